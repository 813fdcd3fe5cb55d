"""The data plane as the program creates it carries the seed's numbers from the spec."""

import json

import pytest

from soundbite import spec
from tests.infra.pulumi_mocks import program_for

QUEUE = "aws:sqs/queue:Queue"
TABLE = "aws:dynamodb/table:Table"


@pytest.fixture(scope="module")
def run():
    return program_for("ec2-only")


def _queue(run, queue_spec):
    name = spec.ResourceNames("dev").queue(queue_spec)
    [queue] = [r for r in run.mocks.of_type(QUEUE) if r.inputs["name"] == name]
    return queue.inputs


def test_jobs_queue_has_130s_visibility_and_three_receives_before_the_dlq(run):
    jobs = _queue(run, spec.JOBS_QUEUE)
    assert jobs["visibilityTimeoutSeconds"] == spec.VISIBILITY_TIMEOUT_SECONDS == 130
    assert jobs["receiveWaitTimeSeconds"] == spec.LONG_POLL_SECONDS
    policy = json.loads(jobs["redrivePolicy"])
    assert policy["maxReceiveCount"] == spec.MAX_RECEIVE_COUNT == 3
    assert policy["deadLetterTargetArn"].endswith(":" + spec.ResourceNames("dev").queue(spec.DLQ))
    assert jobs["sqsManagedSseEnabled"] is True


def test_dlq_keeps_messages_fourteen_days(run):
    assert _queue(run, spec.DLQ)["messageRetentionSeconds"] == spec.DLQ_RETENTION_SECONDS == 14 * 86400


def test_bucket_lifecycle_moves_audio_to_ia_at_30_days_and_expires_it_at_90(run):
    [rule] = run.mocks.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")[0].inputs["rules"]
    assert rule["status"] == "Enabled"
    assert rule["filter"]["prefix"] == spec.AUDIO_BUCKET.audio_prefix
    assert rule["transitions"] == [{"days": 30, "storageClass": "STANDARD_IA"}]
    assert rule["expiration"]["days"] == 90


def test_bucket_is_private_encrypted_versioned_and_allows_the_web_origin(run):
    block = run.mocks.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")[0].inputs
    assert all(block[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    sse = run.mocks.of_type(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")[0].inputs
    assert sse["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == spec.AUDIO_BUCKET.sse_algorithm
    versioning = run.mocks.of_type("aws:s3/bucketVersioning:BucketVersioning")[0].inputs
    assert versioning["versioningConfiguration"]["status"] == "Enabled"
    [cors] = run.mocks.of_type("aws:s3/bucketCorsConfiguration:BucketCorsConfiguration")[0].inputs["corsRules"]
    assert cors["allowedOrigins"] == ["https://api.dev.example.com"]
    assert set(cors["allowedMethods"]) == {"GET", "HEAD"}


def test_every_spec_table_exists_with_keys_ttl_gsis_and_pitr(run):
    tables = {r.inputs["name"]: r.inputs for r in run.mocks.of_type(TABLE)}
    names = spec.ResourceNames("dev")
    assert set(tables) == {names.table(t) for t in spec.TABLES}
    soundbites = tables[names.table(spec.SOUNDBITES_TABLE)]
    assert (soundbites["hashKey"], soundbites["rangeKey"]) == ("pk", "sk")
    assert soundbites["ttl"] == {"attributeName": spec.SOUNDBITES_TABLE.ttl_attribute, "enabled": True}
    indexes = {ix["name"]: ix for ix in soundbites["globalSecondaryIndexes"]}
    assert set(indexes) == {spec.ENVIRONMENT_CREATED_INDEX, spec.USER_ENVIRONMENT_INDEX}
    for ix in spec.SOUNDBITES_TABLE.indexes:
        assert (indexes[ix.name]["hashKey"], indexes[ix.name]["rangeKey"]) == (ix.hash_key, ix.range_key)
    declared = {a["name"] for a in soundbites["attributes"]}
    assert declared == set(spec.SOUNDBITES_TABLE.attributes)
    for table in tables.values():
        assert table["pointInTimeRecovery"]["enabled"] is True
        assert table["billingMode"] == "PAY_PER_REQUEST"
    ledger = tables[names.table(spec.MIGRATION_LEDGER_TABLE)]
    assert "ttl" not in ledger, "a TTL on the lease's expiresAt would delete released locks"


def test_redis_reaches_the_apps_as_a_tls_url():
    run = program_for("shift-25", redis="true")
    [group] = run.mocks.of_type("aws:elasticache/replicationGroup:ReplicationGroup")
    assert group.inputs["transitEncryptionEnabled"] is True
    assert run.exports["redisUrl"].startswith("rediss://")
    [task] = [r for r in run.mocks.of_type("aws:ecs/taskDefinition:TaskDefinition") if r.name == "fargate-api-task"]
    env = {e["name"]: e["value"] for e in json.loads(task.inputs["containerDefinitions"])[0]["environment"]}
    assert env["SOUNDBITE_REDIS_URL"] == run.exports["redisUrl"]
