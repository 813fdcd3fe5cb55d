"""The I/O floor of a create: the data-plane calls `POST /v1/soundbites` makes, and nothing else.

A create with a new Idempotency-Key makes four calls (service.api.idempotency ->
soundbite.core.idempotency.persistence.dynamodb, soundbite.core.repository, soundbite.core.publisher):

1. DynamoDB PutItem on the idempotency table, conditional on no live record (take the key);
2. DynamoDB PutItem of the soundbite, conditional on `attribute_not_exists(pk)`;
3. SQS SendMessage of the job, with its two message attributes;
4. DynamoDB PutItem on the idempotency table, conditional on the token (store the response).

Here they run in a raw boto3 loop with items of the same shape and size, on as many processes
and threads as the API has (gunicorn workers x threads), so the API is compared with the best
those calls allow on the same emulator.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import ThreadPoolExecutor as Threads
from dataclasses import dataclass

from bench import stats
from soundbite import spec

TEXT = "Benchmarks measure; they do not guess. " * 5


@dataclass(frozen=True)
class Floor:
    endpoint: str
    environment: str
    soundbites_table: str
    idempotency_table: str
    queue_url: str


def _clients(endpoint: str):
    import boto3

    from soundbite.core import aws

    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                    region_name="us-east-1")
    return (session.client("dynamodb", endpoint_url=endpoint, config=aws.CLIENT_CONFIG),
            session.client("sqs", endpoint_url=endpoint, config=aws.CLIENT_CONFIG))


def _soundbite_item(floor: Floor, soundbite_id: str, now: str, expires: int) -> dict:
    return {
        "pk": {"S": f"{floor.environment}:{soundbite_id}"}, "sk": {"S": f"SOUNDBITE#{soundbite_id}"},
        "id": {"S": soundbite_id}, "environment": {"S": floor.environment}, "text": {"S": TEXT},
        "voice": {"S": "en-us"}, "format": {"S": "mp3"}, "status": {"S": "pending"},
        "createdAt": {"S": now}, "updatedAt": {"S": now}, "expiresAt": {"N": str(expires)},
    }


def create_once(floor: Floor, ddb, sqs) -> None:
    """The four calls of one create, in order."""
    key, token, soundbite_id = f"soundbites.create#anonymous#{uuid.uuid4()}", uuid.uuid4().hex, uuid.uuid4().hex
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + "Z"
    record = {"id": {"S": key}, "status": {"S": "IN_PROGRESS"},
              "expiration": {"N": str(math.ceil(now + spec.IDEMPOTENCY_LEASE_SECONDS))}, "validation": {"S": uuid.uuid4().hex * 2},
              "token": {"S": token}}
    ddb.put_item(TableName=floor.idempotency_table, Item=record,
                 ConditionExpression="attribute_not_exists(id) OR expiration <= :now",
                 ExpressionAttributeValues={":now": {"N": str(math.floor(now))}},
                 ReturnValuesOnConditionCheckFailure="ALL_OLD")
    ddb.put_item(TableName=floor.soundbites_table,
                 Item=_soundbite_item(floor, soundbite_id, stamp, int(now) + 30 * 86400),
                 ConditionExpression="attribute_not_exists(pk)")
    sqs.send_message(
        QueueUrl=floor.queue_url,
        MessageBody=json.dumps({"id": soundbite_id, "environment": floor.environment, "enqueuedAt": now}),
        MessageAttributes={"correlationId": {"DataType": "String", "StringValue": uuid.uuid4().hex},
                           "voice": {"DataType": "String", "StringValue": "en-us"}})
    response = json.dumps({"status": 202, "body": json.dumps({"id": soundbite_id, "status": "pending",
                                                              "created_at": stamp}),
                           "headers": {"Content-Type": "application/json"}})
    ddb.put_item(TableName=floor.idempotency_table,
                 Item={**record, "status": {"S": "COMPLETED"}, "response": {"S": response},
                       "expiration": {"N": str(math.ceil(now + 86400))}},
                 ConditionExpression="#t = :token", ExpressionAttributeNames={"#t": "token"},
                 ExpressionAttributeValues={":token": {"S": token}})


def _process(floor: Floor, threads: int, duration: float) -> tuple[list[float], int]:
    ddb, sqs = _clients(floor.endpoint)
    create_once(floor, ddb, sqs)  # connections open and botocore's models loaded before the clock
    deadline = time.perf_counter() + duration

    def loop() -> tuple[list[float], int]:
        mine, failed = [], 0
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                create_once(floor, ddb, sqs)
            except Exception:  # noqa: BLE001 - counted, like a failed HTTP request
                failed += 1
            mine.append(time.perf_counter() - t0)
        return mine, failed

    with Threads(threads) as pool:
        results = [f.result() for f in [pool.submit(loop) for _ in range(threads)]]
    return [x for r in results for x in r[0]], sum(r[1] for r in results)


def run(floor: Floor, processes: int, threads: int, duration: float) -> dict:
    """Creates per second and latency of the four calls, on `processes` x `threads`."""
    with ProcessPoolExecutor(processes) as pool:
        started = time.perf_counter()
        futures = [pool.submit(_process, floor, threads, duration) for _ in range(processes)]
        results = [f.result() for f in futures]
    latencies = [x for r in results for x in r[0]]
    # Each process warms up before its clock starts; the window is the requested duration.
    elapsed = min(duration, time.perf_counter() - started)
    return {"tool": "boto3", "requests": len(latencies), "seconds": round(elapsed, 2),
            "rps": round(len(latencies) / elapsed, 1) if elapsed else 0.0,
            **stats.latency_summary(latencies), "failed": sum(r[1] for r in results)}


# --- the emulator's own data-plane floors ----------------------------------------------------


def data_plane_floors(endpoint: str, environment: str, seconds: float = 5.0) -> dict:
    """One client, one thread: DynamoDB put+get pairs/s and SQS send+receive+delete round
    trips/s on the bootstrapped data plane. The emulator's ceiling for every end-to-end run."""
    from infra.local import bootstrap

    plane = bootstrap.bootstrap(endpoint, environment)
    ddb, sqs = _clients(endpoint)
    floor = Floor(endpoint, environment, plane.soundbites_table, plane.idempotency_table,
                  plane.queue_url)

    def pair() -> None:
        soundbite_id = uuid.uuid4().hex
        item = _soundbite_item(floor, soundbite_id, "2026-01-01T00:00:00Z", int(time.time()))
        ddb.put_item(TableName=floor.soundbites_table, Item=item)
        ddb.get_item(TableName=floor.soundbites_table, ConsistentRead=True,
                     Key={"pk": item["pk"], "sk": item["sk"]})

    def round_trip() -> None:
        sqs.send_message(QueueUrl=plane.dlq_url, MessageBody=TEXT)
        for message in sqs.receive_message(QueueUrl=plane.dlq_url, MaxNumberOfMessages=1,
                                           WaitTimeSeconds=1).get("Messages", []):
            sqs.delete_message(QueueUrl=plane.dlq_url, ReceiptHandle=message["ReceiptHandle"])

    def rate(call) -> float:
        call()  # connections open, models loaded
        done, deadline = 0, time.perf_counter() + seconds
        started = time.perf_counter()
        while time.perf_counter() < deadline:
            call()
            done += 1
        return round(done / (time.perf_counter() - started), 1)

    return {"dynamodb_put_get_pairs_per_s": rate(pair),
            "sqs_send_receive_delete_per_s": rate(round_trip)}


def main() -> None:
    """`python -m bench.io_floor`: the data-plane floors of each emulator, as JSON."""
    import sys

    from infra.local import emulator

    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    out = {}
    for kind in emulator.KINDS:
        with emulator.running(kind=kind) as em:
            out[kind] = data_plane_floors(em.endpoint, "floor", seconds)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
