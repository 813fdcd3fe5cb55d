"""Create the data plane on the local emulator from the resource spec, idempotently.

The Pulumi data-plane component reads the same spec for AWS, so the two cannot drift.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import boto3
from botocore.exceptions import ClientError

from infra.local.emulator import LOCAL_REGION
from soundbite import spec


@dataclass(frozen=True)
class DataPlane:
    """Names and addresses of what the bootstrap created."""

    environment: str
    soundbites_table: str
    idempotency_table: str
    ledger_table: str
    bucket: str
    queue_url: str
    dlq_url: str

    def service_env(self) -> dict[str, str]:
        """The `SOUNDBITE_*` variables that point the API and the worker at this data plane."""
        return {
            "SOUNDBITE_ENVIRONMENT": self.environment,
            "SOUNDBITE_TABLE": self.soundbites_table,
            "SOUNDBITE_IDEMPOTENCY_TABLE": self.idempotency_table,
            "SOUNDBITE_BUCKET": self.bucket,
            "SOUNDBITE_QUEUE_URL": self.queue_url,
            "SOUNDBITE_DLQ_URL": self.dlq_url,
        }


def _session() -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=LOCAL_REGION
    )


def create_table(ddb, name: str, table: spec.TableSpec) -> None:
    keys = [{"AttributeName": table.hash_key, "KeyType": "HASH"}]
    if table.range_key:
        keys.append({"AttributeName": table.range_key, "KeyType": "RANGE"})
    kwargs = {
        "TableName": name,
        "KeySchema": keys,
        "AttributeDefinitions": [
            {"AttributeName": a, "AttributeType": t} for a, t in table.attributes.items()
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if table.indexes:
        kwargs["GlobalSecondaryIndexes"] = [
            {
                "IndexName": ix.name,
                "KeySchema": [
                    {"AttributeName": ix.hash_key, "KeyType": "HASH"},
                    {"AttributeName": ix.range_key, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for ix in table.indexes
        ]
    try:
        ddb.create_table(**kwargs)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise
    if table.ttl_attribute:
        ddb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
        )


def create_bucket(s3, name: str, bucket: spec.BucketSpec) -> None:
    try:
        s3.create_bucket(Bucket=name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    if bucket.versioning:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": bucket.sse_algorithm}}]
        },
    )
    if bucket.block_public_access:
        s3.put_public_access_block(
            Bucket=name,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True, "IgnorePublicAcls": True,
                "BlockPublicPolicy": True, "RestrictPublicBuckets": True,
            },
        )
    s3.put_bucket_lifecycle_configuration(
        Bucket=name,
        LifecycleConfiguration={
            "Rules": [{
                "ID": "audio-lifecycle",
                "Filter": {"Prefix": bucket.audio_prefix},
                "Status": "Enabled",
                "Transitions": [{"Days": bucket.transition_to_ia_days, "StorageClass": "STANDARD_IA"}],
                "Expiration": {"Days": bucket.expire_days},
            }]
        },
    )


def create_queue(sqs, name: str, queue: spec.QueueSpec, dlq_arn: str | None = None) -> str:
    attributes = {
        "VisibilityTimeout": str(queue.visibility_timeout_seconds),
        "ReceiveMessageWaitTimeSeconds": str(queue.receive_wait_seconds),
        "MessageRetentionPeriod": str(queue.retention_seconds),
    }
    if dlq_arn and queue.max_receive_count:
        attributes["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": queue.max_receive_count}
        )
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    return url


def bootstrap(endpoint: str, environment: str = "local") -> DataPlane:
    """Create (or confirm) every table, the bucket and both queues; returns their names."""
    session = _session()
    names = spec.ResourceNames(environment)
    ddb = session.client("dynamodb", endpoint_url=endpoint)
    for table in spec.TABLES:
        create_table(ddb, names.table(table), table)
    s3 = session.client("s3", endpoint_url=endpoint)
    create_bucket(s3, names.bucket(spec.AUDIO_BUCKET), spec.AUDIO_BUCKET)
    sqs = session.client("sqs", endpoint_url=endpoint)
    dlq_url = create_queue(sqs, names.queue(spec.DLQ), spec.DLQ)
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    queue_url = create_queue(sqs, names.queue(spec.JOBS_QUEUE), spec.JOBS_QUEUE, dlq_arn)
    return DataPlane(
        environment=environment,
        soundbites_table=names.table(spec.SOUNDBITES_TABLE),
        idempotency_table=names.table(spec.IDEMPOTENCY_TABLE),
        ledger_table=names.table(spec.MIGRATION_LEDGER_TABLE),
        bucket=names.bucket(spec.AUDIO_BUCKET),
        queue_url=queue_url,
        dlq_url=dlq_url,
    )
