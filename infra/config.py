"""Stack configuration, read once into a frozen dataclass.

`load()` is the only place that touches `pulumi.Config`; `from_values()` parses a plain
mapping of raw strings (as `pulumi config` stores them), so the parsing is tested without
a Pulumi runtime. Components never read config: `infra/__main__.py` hands them this object.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from infra import phases, traffic_guard
from infra.phases import Capacity, Phase
from soundbite import spec

NAMESPACE = "soundbite"
DEFAULT_VPC_CIDR = "10.40.0.0/16"
DEFAULT_REDIS_NODE_TYPE = "cache.t4g.micro"
PRODUCTION = spec.PRODUCTION

KEYS = (
    "environment", "hostedZoneId", "apiName", "webOrigins", "certificateArn", "image",
    "imageTag", "migrationPhase", "shiftSteps", "ec2ApiCount", "ec2WorkerCount",
    "fargateApiCount", "fargateWorkerCount", "ec2InstanceType", "ec2AmiId", "vpcCidr",
    "vpcId", "publicSubnetIds", "privateSubnetIds", "redis", "redisNodeType",
    "scheduledRedrive", "rateLimit", "alarmSubscriber", "moveTrafficTo",
)


class ConfigError(ValueError):
    """A stack configuration value is missing or invalid."""


@dataclass(frozen=True)
class ExistingNetwork:
    vpc_id: str
    public_subnet_ids: tuple[str, ...]
    private_subnet_ids: tuple[str, ...]


@dataclass(frozen=True)
class ProgramConfig:
    """Everything the program needs, parsed and validated."""

    region: str
    environment: str
    hosted_zone_id: str
    api_name: str
    web_origins: tuple[str, ...]
    certificate_arn: str | None
    image: str | None
    image_tag: str | None
    phase: Phase
    shift_steps: tuple[int, ...]
    ec2_capacity: Capacity
    fargate_capacity: Capacity
    ec2_instance_type: str
    ec2_ami_id: str | None
    vpc_cidr: str
    existing_network: ExistingNetwork | None
    redis: bool
    redis_node_type: str
    scheduled_redrive: bool
    rate_limit: str
    alarm_subscriber: tuple[str, str] | None = None  # (SNS protocol, endpoint)
    move_traffic_to: str | None = None  # the explicit override of infra/traffic_guard.py
    move_traffic_from: int | None = None  # the Fargate share that override was decided from

    @property
    def names(self) -> spec.ResourceNames:
        return spec.ResourceNames(self.environment)

    @property
    def tags(self) -> dict[str, str]:
        """The tags every taggable resource carries (spec.REQUIRED_TAGS)."""
        return dict(zip(spec.REQUIRED_TAGS, ("soundbite", self.environment, "pulumi"), strict=True))

    def direct_name(self, stack: str) -> str:
        """The per-stack validation name, e.g. `fargate.api.example.com`."""
        return f"{stack}.{self.api_name}"


def _json(values: Mapping[str, str], key: str, default):
    raw = values.get(key)
    if raw is None or raw == "":
        return default
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{NAMESPACE}:{key} must be JSON (a list, number or true/false), got {raw!r}") from exc


def _required(values: Mapping[str, str], key: str) -> str:
    raw = values.get(key)
    if not raw:
        raise ConfigError(f"missing required config {NAMESPACE}:{key} (pulumi config set {NAMESPACE}:{key} ...)")
    return raw


def _count(values: Mapping[str, str], key: str, default: int) -> int:
    value = _json(values, key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{NAMESPACE}:{key} must be a whole number of at least 1, got {value!r}")
    return value


def _flag(values: Mapping[str, str], key: str, default: bool) -> bool:
    value = _json(values, key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{NAMESPACE}:{key} must be true or false, got {value!r}")
    return value


def _strings(values: Mapping[str, str], key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = _json(values, key, list(default))
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{NAMESPACE}:{key} must be a list of strings, got {value!r}")
    return tuple(value)


def _network(values: Mapping[str, str]) -> ExistingNetwork | None:
    vpc_id = values.get("vpcId")
    public = _strings(values, "publicSubnetIds", ())
    private = _strings(values, "privateSubnetIds", ())
    if not vpc_id and not public and not private:
        return None
    if not (vpc_id and len(public) >= 2 and len(private) >= 2):
        raise ConfigError(
            f"an existing VPC needs {NAMESPACE}:vpcId plus at least two publicSubnetIds and two "
            "privateSubnetIds (two availability zones); set all three or none"
        )
    return ExistingNetwork(vpc_id, public, private)


SUBSCRIBER_PROTOCOLS = {"https://": "https"}
"""Endpoints SNS delivers to with no further permission. An SQS queue or a Lambda function
would also need a queue policy or an invoke permission for SNS, which the program does not
own: subscribe those by hand, or through an https endpoint."""


def alarm_subscriber(raw: str | None) -> tuple[str, str] | None:
    """`soundbite:alarmSubscriber`: an email address or an https URL; the alarm topic gets one
    subscription of the matching SNS protocol."""
    if not raw:
        return None
    for start, protocol in SUBSCRIBER_PROTOCOLS.items():
        if raw.startswith(start):
            return protocol, raw
    local, _, domain = raw.partition("@")
    if local and "." in domain and " " not in raw:
        return "email", raw
    raise ConfigError(f"{NAMESPACE}:alarmSubscriber must be an email address or an https:// URL "
                      f"(SNS needs no other permission to deliver to those), got {raw!r}")


def _move_traffic_to(values: Mapping[str, str], environ_override: str | None) -> str | None:
    configured = values.get("moveTrafficTo") or None
    if configured and environ_override and configured != environ_override:
        raise ConfigError(f"{NAMESPACE}:moveTrafficTo={configured} and {traffic_guard.OVERRIDE_VARIABLE}="
                          f"{environ_override} disagree: keep one")
    return configured or environ_override or None


def from_values(values: Mapping[str, str], region: str | None,
                environ_override: str | None = None, environ_from: str | None = None) -> ProgramConfig:
    """Parse raw config strings (keys without the `soundbite:` prefix) into a ProgramConfig.

    `environ_override` is SOUNDBITE_MOVE_TRAFFIC_TO, the one-run form of moveTrafficTo."""
    if not region:
        raise ConfigError("missing required config aws:region")
    environment = _required(values, "environment")
    steps = tuple(_json(values, "shiftSteps", list(spec.DEFAULT_SHIFT_STEPS)))
    ec2 = Capacity(_count(values, "ec2ApiCount", Capacity.api), _count(values, "ec2WorkerCount", Capacity.worker))
    fargate = Capacity(
        _count(values, "fargateApiCount", Capacity.api),
        _count(values, "fargateWorkerCount", Capacity.worker),
    )
    try:
        table = phases.build_phases(steps, ec2, fargate)
        phase = phases.phase_named(_required(values, "migrationPhase"), table)
    except (phases.UnknownPhaseError, ValueError, TypeError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{NAMESPACE}:migrationPhase/shiftSteps: {exc}") from exc
    image, image_tag = values.get("image") or None, values.get("imageTag") or None
    if not image and not image_tag:
        raise ConfigError(f"set {NAMESPACE}:image (a full image reference) or {NAMESPACE}:imageTag (a tag in the stack's ECR repository)")
    api_name = _required(values, "apiName").rstrip(".")
    if environment in spec.LOCAL_ENVIRONMENTS:
        raise ConfigError(
            f"{NAMESPACE}:environment {environment!r} names a developer's machine (`soundbite dev`), "
            "where anonymous access, the built-in cursor secret and no synthesis cap are allowed: "
            "an AWS stack takes another name (dev, staging, prod)")
    redis = _flag(values, "redis", True)
    if not redis:
        raise ConfigError(
            f"{NAMESPACE}:redis must stay on in {environment!r}: both stacks' workers share one "
            f"Redis semaphore (at most {spec.MAX_CONCURRENT_SYNTHESES} syntheses at once) and the "
            "APIs one rate limit")
    scheduled_redrive = _flag(values, "scheduledRedrive", spec.scheduled_redrive(environment))
    if scheduled_redrive and environment == PRODUCTION:
        raise ConfigError("the scheduled DLQ redrive must stay off in prod: redrive there is manual (soundbite dlq)")
    return ProgramConfig(
        region=region,
        environment=environment,
        hosted_zone_id=_required(values, "hostedZoneId"),
        api_name=api_name,
        web_origins=_strings(values, "webOrigins", (f"https://{api_name}",)),
        certificate_arn=values.get("certificateArn") or None,
        image=image,
        image_tag=image_tag,
        phase=phase,
        shift_steps=steps,
        ec2_capacity=ec2,
        fargate_capacity=fargate,
        ec2_instance_type=values.get("ec2InstanceType") or spec.EC2_INSTANCE_TYPE,
        ec2_ami_id=values.get("ec2AmiId") or None,
        vpc_cidr=values.get("vpcCidr") or DEFAULT_VPC_CIDR,
        existing_network=_network(values),
        redis=redis,
        redis_node_type=values.get("redisNodeType") or DEFAULT_REDIS_NODE_TYPE,
        scheduled_redrive=scheduled_redrive,
        rate_limit=values.get("rateLimit") or spec.RATE_LIMIT_DEFAULT,
        alarm_subscriber=alarm_subscriber(values.get("alarmSubscriber")),
        move_traffic_to=_move_traffic_to(values, environ_override),
        move_traffic_from=_percent(traffic_guard.FROM_VARIABLE, environ_from),
    )


def _percent(name: str, raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or int(raw) > 100:
        raise ConfigError(f"{name} must be a Fargate share from 0 to 100, got {raw!r}")
    return int(raw)


def load() -> ProgramConfig:
    """Read the current stack's config through the Pulumi runtime (the program's only reader)."""
    import os

    import pulumi

    cfg = pulumi.Config(NAMESPACE)
    values = {key: cfg.get(key) for key in KEYS}
    return from_values({k: v for k, v in values.items() if v is not None}, pulumi.Config("aws").get("region"),
                       os.environ.get(traffic_guard.OVERRIDE_VARIABLE) or None,
                       os.environ.get(traffic_guard.FROM_VARIABLE))
