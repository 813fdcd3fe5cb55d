"""Typed schemas for the files an operator writes: plans and targets, checked before anything moves.

Types are strict (`"x"` is not a number and `true` is not a number of seconds), ranges are
checked, unknown keys are refused, and every mistake names its field's path:
`plan file p.yaml: judge.min_requests: Input should be a valid integer (got 'x')`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from migration.exceptions import ConfigError, MigrationError, PlanError
from migration.judge import JudgeConfig
from migration.metrics import HIGH_RESOLUTION_PERIODS
from migration.notify import EVENTS, Hook
from migration.plan import BUILT_IN, VALIDATE, Plan, Step, SyntheticTopUp
from soundbite import spec

Lane = Literal["ec2", "fargate"]
Seconds = Annotated[float, Field(ge=0)]
PositiveSeconds = Annotated[float, Field(gt=0)]
Probability = Annotated[float, Field(gt=0, lt=1)]
Count = Annotated[int, Field(ge=0)]
PositiveCount = Annotated[int, Field(ge=1)]
Url = Annotated[str, Field(pattern=r"^https?://[^\s/]+")]


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)


def describe(exc: ValidationError, source: str) -> str:
    """One line: each error as `path: message (got value)`."""
    parts = []
    for error in exc.errors():
        path = ".".join(str(p) for p in error["loc"] if not str(p).startswith("function-")) or "(top)"
        if error["type"] == "extra_forbidden":
            parts.append(f"{path}: unknown key")
            continue
        got = f" (got {error['input']!r})" if error["type"] != "missing" else ""
        parts.append(f"{path}: {error['msg']}{got}")
    return f"{source}: " + "; ".join(parts)


def read_document(path: Path, error: type[MigrationError]) -> object:
    """Parse a JSON or YAML file; a parse error is the caller's error type, with the file name."""
    try:
        text = path.read_text()
        if path.suffix in (".yaml", ".yml"):
            import yaml

            return yaml.safe_load(text)
        return json.loads(text)
    except Exception as exc:  # noqa: BLE001 - any parse error is the same user mistake
        raise error(f"cannot parse {path.name}: {exc}") from exc


# --- plans ---------------------------------------------------------------------------------


class JudgeFile(_Schema):
    error_rate_limit: Probability | None = None
    p95_limit_ms: PositiveSeconds | None = None
    dlq_limit: Count | None = None
    oldest_message_limit_seconds: PositiveSeconds | None = None
    p95_ratio_limit: Annotated[float, Field(ge=1)] | None = None
    p95_min_regression_ms: Seconds | None = None
    significance: Probability | None = None
    power: Probability | None = None
    min_requests: PositiveCount | None = None
    min_errors: Count | None = None
    smallest_regression: Probability | None = None
    share_tolerance: Seconds | None = None
    share_significance: Probability | None = None
    share_dispersion: Annotated[float, Field(ge=1)] | None = None
    baseline_confidence: Probability | None = None
    latency_significance: Probability | None = None
    validation_transactions: PositiveCount | None = None
    audio_duration_tolerance: Probability | None = None

    def config(self) -> JudgeConfig:
        return JudgeConfig(**self.model_dump(exclude_none=True))


class StepFile(_Schema):
    name: str | None = None
    percent: Annotated[int, Field(ge=1, le=100)] | None = None
    weights: dict[Lane, Annotated[int, Field(ge=0, le=255)]] | None = None
    soak_seconds: Seconds | None = None
    approval: bool = False

    @model_validator(mode="after")
    def _one_kind(self) -> StepFile:
        kinds = [self.name == VALIDATE, self.percent is not None, self.weights is not None]
        if sum(kinds) != 1:
            raise ValueError("a step is {name: validate}, {percent: N} or {weights: {...}}")
        if self.weights is not None and sum(self.weights.values()) <= 0:
            raise ValueError("weights would all be zero: no stack would serve")
        return self


def _bare_percent(item: object) -> object:
    """`25` in a step list is short for `{percent: 25}` (a bool is not a number here)."""
    return {"percent": item} if isinstance(item, int) and not isinstance(item, bool) else item


class HookFile(_Schema):
    events: list[Literal[EVENTS]] = Field(default_factory=lambda: list(EVENTS), min_length=1)
    webhook: Url | None = None
    sns_topic: Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:sns:")] | None = None
    command: Annotated[str, Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _one_target(self) -> HookFile:
        if sum(x is not None for x in (self.webhook, self.sns_topic, self.command)) != 1:
            raise ValueError("a hook has exactly one of webhook, sns_topic, command")
        return self

    def hook(self) -> Hook:
        return Hook(tuple(self.events), self.webhook, self.sns_topic, self.command)


class SyntheticFile(_Schema):
    rate: PositiveSeconds
    max: PositiveCount


class PlanFile(_Schema):
    name: str = "custom"
    steps: list[Annotated[StepFile, BeforeValidator(_bare_percent)]] = Field(
        default_factory=lambda: [StepFile(percent=p) for p in spec.DEFAULT_SHIFT_STEPS])
    validate_first: bool = Field(False, alias="validate")
    soak_seconds: Seconds = spec.DEFAULT_SOAK_SECONDS
    ttl_wait_seconds: Seconds | None = None
    metric_lag_seconds: Seconds | None = None
    analysis_interval_seconds: PositiveSeconds | None = None
    failure_limit: PositiveCount | None = None
    inconclusive_limit: Count | None = None
    consecutive_error_limit: PositiveCount | None = None
    max_soak_extension_seconds: Seconds | None = None
    insync_poll_seconds: PositiveSeconds | None = None
    recent_intervals: Annotated[int, Field(ge=1, le=20)] | None = None
    judge: JudgeFile = Field(default_factory=JudgeFile)
    notify: list[HookFile] = Field(default_factory=list)
    synthetic: SyntheticFile | None = None


def _step(item: StepFile, soak: float):
    step_soak = soak if item.soak_seconds is None else item.soak_seconds
    if item.name == VALIDATE:
        return Step(VALIDATE, 0, step_soak)
    if item.weights is not None:
        total = sum(item.weights.get(stack, 0) for stack in spec.STACKS)
        percent = round(100 * item.weights.get(spec.STACKS[1], 0) / total)
    else:
        percent = item.percent
    return Step(f"shift-{percent}", percent, step_soak, item.approval)


def plan_from_mapping(data: object, source: str = "plan") -> object:
    """A `Plan` from a parsed plan file, or PlanError naming the field."""
    try:
        parsed = PlanFile.model_validate(data)
    except ValidationError as exc:
        raise PlanError(describe(exc, source)) from exc
    steps = [_step(item, parsed.soak_seconds) for item in parsed.steps]
    if parsed.validate_first and not any(s.is_validation for s in steps):
        steps.insert(0, Step(VALIDATE, 0, parsed.soak_seconds))
    knobs = parsed.model_dump(include={
        "ttl_wait_seconds", "metric_lag_seconds", "analysis_interval_seconds", "failure_limit",
        "inconclusive_limit", "consecutive_error_limit", "max_soak_extension_seconds",
        "insync_poll_seconds", "recent_intervals"}, exclude_none=True)
    synthetic = (SyntheticTopUp(parsed.synthetic.rate, parsed.synthetic.max)
                 if parsed.synthetic else None)
    return Plan(parsed.name, tuple(steps), judge=parsed.judge.config(), synthetic=synthetic,
                notify=tuple(h.hook() for h in parsed.notify), **knobs)


# --- targets -------------------------------------------------------------------------------


class SyntheticAuthFile(_Schema):
    """How synthetic transactions get a bearer token: a command that prints one, or a user-pool
    app client and user whose password is read from an environment variable (never the file)."""

    anonymous: bool | None = None
    """True where the API runs with authentication off (local environments)."""
    token_command: Annotated[str, Field(min_length=1)] | None = None
    client_id: Annotated[str, Field(min_length=1)] | None = None
    username: Annotated[str, Field(min_length=1)] | None = None
    password_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] | None = None

    @model_validator(mode="after")
    def _one_way(self) -> SyntheticAuthFile:
        cognito = (self.client_id, self.username, self.password_env)
        ways = [bool(self.anonymous), self.token_command is not None, any(cognito)]
        if sum(ways) != 1 or (any(cognito) and not all(cognito)):
            raise ValueError("synthetic_auth is one of {anonymous: true}, {token_command: ...}, "
                             "or {client_id, username, password_env}")
        return self


class LaneCapacityFile(_Schema):
    api: PositiveCount
    worker: PositiveCount


class CapacityFile(_Schema):
    """The stack's full capacities and shift steps, as its program was deployed with them."""

    shift_steps: list[Annotated[int, Field(ge=1, le=100)]]
    ec2: LaneCapacityFile
    fargate: LaneCapacityFile

    @model_validator(mode="after")
    def _steps(self) -> CapacityFile:
        from infra import phases

        phases.validate_steps(tuple(self.shift_steps))  # its ValueError names the rule
        return self


class TargetFile(_Schema):
    stack: str | None = None
    region: str | None = None
    zone_id: str | None = None
    record_name: str | None = None
    environment: str | None = None
    ledger_table: str | None = None
    metrics: Literal["alb"] | None = None
    metric_period_seconds: PositiveCount | None = None
    load_balancers: dict[Lane, str] | None = None
    target_groups: dict[Lane, str] | None = None
    target_group_arns: dict[Lane, str] | None = None
    queue_name: str | None = None
    dlq_name: str | None = None
    alarm_prefix: str | None = None
    ecs_cluster: str | None = None
    ecs_service: str | None = None
    asg_name: str | None = None
    worker_asg_name: str | None = None
    direct_urls: dict[Lane, Url] | None = None
    pulumi_dir: str | None = None
    stack_file: str | None = None
    fargate_capacity_rps: PositiveSeconds | None = None
    synthetic_auth: SyntheticAuthFile | None = None
    capacity: CapacityFile | None = None

    @model_validator(mode="after")
    def _pairs(self) -> TargetFile:
        if bool(self.ecs_cluster) != bool(self.ecs_service):
            raise ValueError("ecs_cluster and ecs_service go together: name both or neither")
        period = self.metric_period_seconds
        if period is not None and period not in HIGH_RESOLUTION_PERIODS and period % 60:
            raise ValueError(f"metric_period_seconds {period}: CloudWatch periods are "
                             f"{', '.join(map(str, HIGH_RESOLUTION_PERIODS))} or a multiple of 60")
        return self


def target_fields(data: object, source: str) -> dict:
    """The target file's fields, checked; ConfigError naming the field otherwise."""
    try:
        parsed = TargetFile.model_validate(data if data is not None else {})
    except ValidationError as exc:
        raise ConfigError(describe(exc, source)) from exc
    return parsed.model_dump(exclude_none=True)


def load_plan(name_or_path: str):
    """A built-in plan by name, or a plan file (.json, .yaml, .yml) checked against its schema."""
    if name_or_path in BUILT_IN:
        return BUILT_IN[name_or_path]()
    path = Path(name_or_path)
    if not path.is_file():
        raise PlanError(f"no built-in plan and no file named {name_or_path!r} "
                        f"(built-in: {', '.join(BUILT_IN)})")
    return plan_from_mapping(read_document(path, PlanError), path.name)
