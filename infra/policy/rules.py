"""Guardrail rules as plain functions: `(args, report_violation) -> None`.

`args` is what pulumi-policy passes (`resource_type`, `props` in the engine's camelCase,
`name`; or `resources` for stack rules). Kept free of `PolicyPack` so tests call them
directly: constructing the pack starts the analyzer server (see `__main__.py`).
"""

from __future__ import annotations

import importlib
import inspect
import json
from collections import defaultdict
from functools import cache

from soundbite import spec

PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET = "aws:s3/bucket:Bucket"
BUCKET_SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
TABLE = "aws:dynamodb/table:Table"
LISTENER = "aws:lb/listener:Listener"
RECORD = "aws:route53/record:Record"
IAM_POLICY_TYPES = {"aws:iam/rolePolicy:RolePolicy": "policy", "aws:iam/policy:Policy": "policy"}
BLOCK_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
SSE_ALGORITHMS = {"AES256", "aws:kms", "aws:kms:dsse"}


def bucket_public_access_blocked(args, report) -> None:
    """Every public access block sets all four flags."""
    if args.resource_type != PUBLIC_ACCESS_BLOCK:
        return
    off = [flag for flag in BLOCK_FLAGS if args.props.get(flag) is not True]
    if off:
        report(f"public access block {args.name} leaves {', '.join(off)} off")


def bucket_encrypted(args, report) -> None:
    """Bucket encryption configurations use S3- or KMS-managed keys."""
    if args.resource_type != BUCKET_SSE:
        return
    for rule in args.props.get("rules") or []:
        algorithm = (rule.get("applyServerSideEncryptionByDefault") or {}).get("sseAlgorithm")
        if algorithm not in SSE_ALGORITHMS:
            report(f"bucket encryption {args.name} uses {algorithm!r}; expected one of {sorted(SSE_ALGORITHMS)}")


def every_bucket_blocked_and_encrypted(args, report) -> None:
    """Stack rule: each bucket has a public access block and an encryption configuration."""
    count = defaultdict(int)
    for r in args.resources:
        count[r.resource_type] += 1
    buckets = count[BUCKET]
    if count[PUBLIC_ACCESS_BLOCK] < buckets:
        report(f"{buckets} bucket(s) but only {count[PUBLIC_ACCESS_BLOCK]} public access block(s)")
    if count[BUCKET_SSE] < buckets:
        report(f"{buckets} bucket(s) but only {count[BUCKET_SSE]} encryption configuration(s)")


def table_point_in_time_recovery(args, report) -> None:
    if args.resource_type != TABLE:
        return
    if not (args.props.get("pointInTimeRecovery") or {}).get("enabled"):
        report(f"DynamoDB table {args.name} has point-in-time recovery off")


def _statements(document) -> list[dict]:
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError:
            return []  # unknown during preview; checked again on update
    if not isinstance(document, dict):
        return []
    statements = document.get("Statement") or []
    return [statements] if isinstance(statements, dict) else list(statements)


def iam_no_wildcard_actions(args, report) -> None:
    """No IAM statement allows `*` or `service:*` style actions (NotAction is refused too)."""
    key = IAM_POLICY_TYPES.get(args.resource_type)
    if key is None:
        return
    for st in _statements(args.props.get(key)):
        if "NotAction" in st:
            report(f"{args.name}: NotAction grants everything not listed; name the actions")
        actions = st.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        wild = [a for a in actions if "*" in a]
        if wild and st.get("Effect", "Allow") == "Allow":
            report(f"{args.name}: wildcard action(s) {wild}")


@cache
def taggable(resource_type: str) -> bool:
    """Whether the AWS resource type accepts `tags` (read from the provider SDK's signature)."""
    parts = resource_type.split(":")
    if len(parts) != 3 or parts[0] != "aws":
        return False
    try:
        module = importlib.import_module(f"pulumi_aws.{parts[1].split('/')[0]}")
        init = getattr(module, parts[2])._internal_init
    except (ImportError, AttributeError):
        return False
    return "tags" in inspect.signature(init).parameters


def required_tags(args, report) -> None:
    if not taggable(args.resource_type):
        return
    tags = args.props.get("tags") or {}
    if isinstance(tags, list):  # auto scaling groups
        tags = {t.get("key"): t.get("value") for t in tags}
    missing = [t for t in spec.REQUIRED_TAGS if not tags.get(t)]
    if missing:
        report(f"{args.name} ({args.resource_type}) lacks tag(s) {', '.join(missing)}")


def https_listeners(args, report) -> None:
    """Listeners serve HTTPS with a certificate and TLS policy; a plain-HTTP one only redirects
    to HTTPS or answers a fixed response (refusing what a redirect would turn into a GET)."""
    if args.resource_type != LISTENER:
        return
    props = args.props
    if props.get("protocol") == "HTTPS":
        if not props.get("certificateArn") or not props.get("sslPolicy"):
            report(f"HTTPS listener {args.name} needs a certificate and an ssl policy")
        return
    actions = props.get("defaultActions") or []
    redirects = all(
        (a.get("type") == "redirect" and (a.get("redirect") or {}).get("protocol") == "HTTPS")
        or a.get("type") == "fixed-response" for a in actions
    )
    if not actions or not redirects:
        report(f"listener {args.name} serves {props.get('protocol')} instead of redirecting to HTTPS")


def weighted_records_not_all_zero(args, report) -> None:
    """Stack rule: in each weighted record set, at least one weight is above zero."""
    sets = defaultdict(list)
    for r in args.resources:
        if r.resource_type != RECORD or not r.props.get("setIdentifier"):
            continue
        policies = r.props.get("weightedRoutingPolicies") or []
        if not policies:
            continue
        key = (r.props.get("zoneId"), str(r.props.get("name", "")).rstrip("."), r.props.get("type"))
        sets[key].append(policies[0].get("weight") or 0)
    for (_, name, typ), weights in sets.items():
        if sum(weights) <= 0:
            report(f"every weighted {typ} record for {name} has weight 0 (Route 53 would split traffic evenly)")


RESOURCE_RULES = {
    "s3-public-access-blocked": (bucket_public_access_blocked, "S3 public access is blocked"),
    "s3-bucket-encrypted": (bucket_encrypted, "S3 buckets are encrypted at rest"),
    "dynamodb-point-in-time-recovery": (table_point_in_time_recovery, "DynamoDB tables have PITR"),
    "iam-no-wildcard-actions": (iam_no_wildcard_actions, "IAM statements name their actions"),
    "required-tags": (required_tags, f"Taggable resources carry {', '.join(spec.REQUIRED_TAGS)}"),
    "https-listeners": (https_listeners, "Load balancers serve HTTPS and redirect HTTP"),
}
STACK_RULES = {
    "s3-every-bucket-guarded": (every_bucket_blocked_and_encrypted, "Each bucket has a block and SSE"),
    "weighted-records-not-all-zero": (weighted_records_not_all_zero, "A weighted record set takes traffic"),
}
