"""The local bootstrap creates exactly what the spec says, and running it twice is harmless."""

import json

from infra.local import bootstrap
from soundbite import spec


def test_bootstrap_applies_the_seed_numbers(fresh_data_plane, boto_session):
    sqs = boto_session.client("sqs")
    attrs = sqs.get_queue_attributes(QueueUrl=fresh_data_plane.queue_url, AttributeNames=["All"])[
        "Attributes"
    ]
    assert attrs["VisibilityTimeout"] == "130"
    assert attrs["ReceiveMessageWaitTimeSeconds"] == "20"
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive["maxReceiveCount"] == 3
    assert redrive["deadLetterTargetArn"].endswith(fresh_data_plane.dlq_url.rsplit("/", 1)[1])
    dlq = sqs.get_queue_attributes(QueueUrl=fresh_data_plane.dlq_url, AttributeNames=["All"])[
        "Attributes"
    ]
    assert dlq["MessageRetentionPeriod"] == str(14 * 24 * 3600)

    ddb = boto_session.client("dynamodb")
    table = ddb.describe_table(TableName=fresh_data_plane.soundbites_table)["Table"]
    assert {k["AttributeName"] for k in table["KeySchema"]} == {"pk", "sk"}
    assert {ix["IndexName"] for ix in table["GlobalSecondaryIndexes"]} == {
        spec.ENVIRONMENT_CREATED_INDEX,
        spec.USER_ENVIRONMENT_INDEX,
    }
    ttl = ddb.describe_time_to_live(TableName=fresh_data_plane.soundbites_table)
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expiresAt"

    s3 = boto_session.client("s3")
    rules = s3.get_bucket_lifecycle_configuration(Bucket=fresh_data_plane.bucket)["Rules"]
    assert rules[0]["Transitions"][0] == {"Days": 30, "StorageClass": "STANDARD_IA"}
    assert rules[0]["Expiration"]["Days"] == 90
    assert s3.get_bucket_versioning(Bucket=fresh_data_plane.bucket)["Status"] == "Enabled"


def test_bootstrap_twice_is_harmless(fresh_data_plane, aws_emulator):
    again = bootstrap.bootstrap(aws_emulator.endpoint, environment=fresh_data_plane.environment)
    assert again == fresh_data_plane


def test_the_ledger_has_no_ttl_so_a_released_lock_keeps_its_fencing_token(boto_session, fresh_data_plane):
    """The lock item's `expiresAt` is the lease: were it a TTL attribute, DynamoDB (and
    MiniStack's reaper, every minute) would delete a released lock, and the next run's token
    would start again at 1."""
    from migration.ledger import Ledger

    ddb = boto_session.client("dynamodb")
    ttl = ddb.describe_time_to_live(TableName=fresh_data_plane.ledger_table)["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "DISABLED"
    first = Ledger(fresh_data_plane.ledger_table, "ttl", client=ddb, owner="a")
    token = first.acquire()
    first.release()
    assert Ledger(fresh_data_plane.ledger_table, "ttl", client=ddb, owner="b").acquire() == token + 1
