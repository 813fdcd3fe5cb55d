"""Data plane: the audio bucket, the DynamoDB tables and the jobs queue with its DLQ.

Built from the same TableSpec / QueueSpec / BucketSpec objects the local bootstrap reads
(`infra.local.bootstrap`), so AWS and the rehearsal cannot drift. Shared by both stacks:
a migration phase never touches anything here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from soundbite import spec


@dataclass(frozen=True)
class DataPlaneArgs:
    names: spec.ResourceNames
    web_origins: tuple[str, ...]
    account_id: pulumi.Input[str]
    region: str
    tags: dict[str, str] = field(default_factory=dict)


BUCKET_NAME_MAX = 63


def bucket_name(names: spec.ResourceNames, account_id: str, region: str) -> str:
    """The audio bucket's name: S3 names are global across every account, so the
    environment's name is made unique with the account and region
    (`soundbite-dev-audio-123456789012-us-east-1`)."""
    name = f"{names.bucket(spec.AUDIO_BUCKET)}-{account_id}-{region}"
    if len(name) > BUCKET_NAME_MAX:
        raise ValueError(f"bucket name {name!r} is longer than S3's {BUCKET_NAME_MAX} characters: "
                         "use a shorter environment name")
    return name


def table_args(table: spec.TableSpec) -> dict:
    """aws.dynamodb.Table arguments for one TableSpec (keys, GSIs, TTL, PITR)."""
    args: dict = {
        "billing_mode": "PAY_PER_REQUEST",
        "hash_key": table.hash_key,
        "attributes": [{"name": n, "type": t} for n, t in table.attributes.items()],
        "point_in_time_recovery": {"enabled": table.point_in_time_recovery},
        "server_side_encryption": {"enabled": True},
        "global_secondary_indexes": [
            {"name": ix.name, "hash_key": ix.hash_key, "range_key": ix.range_key, "projection_type": "ALL"}
            for ix in table.indexes
        ],
    }
    if table.range_key:
        args["range_key"] = table.range_key
    if table.ttl_attribute:
        args["ttl"] = {"attribute_name": table.ttl_attribute, "enabled": True}
    return args


def queue_args(queue: spec.QueueSpec) -> dict:
    return {
        "visibility_timeout_seconds": queue.visibility_timeout_seconds,
        "receive_wait_time_seconds": queue.receive_wait_seconds,
        "message_retention_seconds": queue.retention_seconds,
        "sqs_managed_sse_enabled": True,
    }


def redrive_policy(dlq_arn: str, queue: spec.QueueSpec) -> str:
    return json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": queue.max_receive_count})


class DataPlane(pulumi.ComponentResource):
    tables: dict[str, aws.dynamodb.Table]  # keyed by TableSpec.name
    bucket: aws.s3.Bucket
    queue: aws.sqs.Queue
    dlq: aws.sqs.Queue

    def __init__(self, name: str, args: DataPlaneArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("soundbite:infra:DataPlane", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # Data outlives any phase: protect it from an accidental `pulumi destroy` or rename.
        keep = pulumi.ResourceOptions(parent=self, protect=True)
        names, tags = args.names, args.tags
        self.tables = {
            t.name: aws.dynamodb.Table(
                f"{name}-{t.name}", name=names.table(t), tags=tags, opts=keep, **table_args(t)
            )
            for t in spec.TABLES
        }
        self.bucket = self._bucket(name, args, keep, child)
        self.dlq = aws.sqs.Queue(
            f"{name}-{spec.DLQ.name}", name=names.queue(spec.DLQ), tags=tags, opts=child,
            **queue_args(spec.DLQ),
        )
        self.queue = aws.sqs.Queue(
            f"{name}-{spec.JOBS_QUEUE.name}", name=names.queue(spec.JOBS_QUEUE), tags=tags,
            redrive_policy=self.dlq.arn.apply(lambda arn: redrive_policy(arn, spec.JOBS_QUEUE)),
            opts=child, **queue_args(spec.JOBS_QUEUE),
        )
        aws.sqs.RedriveAllowPolicy(
            f"{name}-{spec.DLQ.name}-allow", queue_url=self.dlq.url,
            redrive_allow_policy=self.queue.arn.apply(
                lambda arn: json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": [arn]})
            ),
            opts=child,
        )
        self.register_outputs({
            "bucket": self.bucket.bucket, "queue_url": self.queue.url, "dlq_url": self.dlq.url,
            **{f"table_{k}": t.name for k, t in self.tables.items()},
        })

    def _bucket(self, name, args, keep, child) -> aws.s3.Bucket:
        bucket_spec = spec.AUDIO_BUCKET
        prefix = f"{name}-{bucket_spec.name}"
        physical = pulumi.Output.from_input(args.account_id).apply(
            lambda account: bucket_name(args.names, account, args.region))
        bucket = aws.s3.Bucket(prefix, bucket=physical, tags=args.tags, opts=keep)
        aws.s3.BucketPublicAccessBlock(
            f"{prefix}-public-access", bucket=bucket.id, block_public_acls=bucket_spec.block_public_access,
            block_public_policy=bucket_spec.block_public_access,
            ignore_public_acls=bucket_spec.block_public_access,
            restrict_public_buckets=bucket_spec.block_public_access, opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{prefix}-sse", bucket=bucket.id,
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": bucket_spec.sse_algorithm}}],
            opts=child,
        )
        aws.s3.BucketVersioning(
            f"{prefix}-versioning", bucket=bucket.id,
            versioning_configuration={"status": "Enabled" if bucket_spec.versioning else "Suspended"},
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{prefix}-lifecycle", bucket=bucket.id,
            rules=[{
                "id": "audio-lifecycle",
                "status": "Enabled",
                "filter": {"prefix": bucket_spec.audio_prefix},
                "transitions": [{"days": bucket_spec.transition_to_ia_days, "storage_class": "STANDARD_IA"}],
                "expiration": {"days": bucket_spec.expire_days},
                # Versioning keeps replaced objects; expire them on the same clock.
                "noncurrent_version_expiration": {"noncurrent_days": bucket_spec.expire_days},
            }],
            opts=child,
        )
        aws.s3.BucketCorsConfiguration(
            f"{prefix}-cors", bucket=bucket.id,
            cors_rules=[{
                "allowed_methods": list(bucket_spec.cors_methods),
                "allowed_origins": list(args.web_origins),
                "allowed_headers": ["*"],
                "max_age_seconds": bucket_spec.cors_max_age_seconds,
            }],
            opts=child,
        )
        return bucket
