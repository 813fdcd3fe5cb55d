"""What the migration commands act on, read once: zone, record, tables, metrics, stacks.

From a JSON/YAML file (`--config`), then command-line options on top. Plain data: the
factory turns it into clients.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from migration.edge_metrics import DEFAULT_ENVIRONMENT
from migration.exceptions import ConfigError
from soundbite import spec


@dataclass(frozen=True)
class Target:
    stack: str = "dev"
    region: str | None = None
    zone_id: str | None = None
    record_name: str | None = None
    environment: str = DEFAULT_ENVIRONMENT
    ledger_table: str | None = None
    metrics: str = "alb"  # the one profile: each stack's load balancer (the local edge plays them)
    metric_period_seconds: int = spec.ALARMS.period_seconds
    """How often the load balancers' metrics are published: 60 s in AWS, 1 s from the local edge."""
    load_balancers: dict[str, str] = field(default_factory=dict)  # lane -> app/... suffix
    target_groups: dict[str, str] = field(default_factory=dict)  # lane -> targetgroup/... suffix
    target_group_arns: dict[str, str] = field(default_factory=dict)  # lane -> ARN (health)
    queue_name: str | None = None
    dlq_name: str | None = None
    alarm_prefix: str | None = None
    ecs_cluster: str | None = None
    ecs_service: str | None = None
    asg_name: str | None = None
    worker_asg_name: str | None = None
    """The EC2 worker group: a rollback from `complete` (EC2 workers at 0) raises it too."""
    direct_urls: dict[str, str] = field(default_factory=dict)  # lane -> http(s)://direct name
    pulumi_dir: str | None = None
    stack_file: str | None = None
    fargate_capacity_rps: float | None = None
    synthetic_auth: dict | None = None
    """How synthetic transactions sign in: `{token_command: "..."}`, a user-pool
    `{client_id, username, password_env}`, or `{anonymous: true}` where the API runs with
    authentication off. Without it validate and the synthetic top-up have no clients."""
    capacity: dict | None = None
    """The stack's full capacities and shift steps as deployed (`migrate init` copies the
    program's `stackCapacity` output): `{shift_steps: [...], ec2: {api, worker}, fargate: {...}}`."""

    @property
    def names(self) -> spec.ResourceNames:
        return spec.ResourceNames(self.environment)

    @property
    def ledger(self) -> str:
        return self.ledger_table or self.names.table(spec.MIGRATION_LEDGER_TABLE)

    @property
    def queue(self) -> str:
        return self.queue_name or self.names.queue(spec.JOBS_QUEUE)

    @property
    def dlq(self) -> str:
        return self.dlq_name or self.names.queue(spec.DLQ)

    @property
    def alarms(self) -> str:
        return self.alarm_prefix if self.alarm_prefix is not None else f"soundbite-{self.environment}-"

    @property
    def metrics_problem(self) -> str | None:
        """Why the judge would have no metrics from this target; None when it names them."""
        if self.metrics != "alb":
            return f"unknown metrics profile {self.metrics!r} (alb)"
        stacks = set(spec.STACKS)
        if set(self.load_balancers) != stacks or set(self.target_groups) != stacks:
            return ("no metrics to judge on: the target file needs load_balancers and "
                    "target_groups for both ec2 and fargate (`migrate init` writes them)")
        return None

    @property
    def recorded_capacity(self):
        """The capacities the target file records, as the stack's config would give them."""
        from infra import phases
        from migration.capacity import StackCapacity

        if not self.capacity:
            return None
        c = self.capacity
        return StackCapacity(tuple(c["shift_steps"]), phases.Capacity(**c["ec2"]),
                             phases.Capacity(**c["fargate"]), "the target file's capacity (stack outputs)")

    def require_route(self) -> tuple[str, str]:
        if not self.zone_id or not self.record_name:
            raise ConfigError("which records? pass --zone-id and --record-name, or a --config "
                              "file with zone_id and record_name")
        return self.zone_id, self.record_name


def load_target(path: str | None, **overrides) -> Target:
    """The target from a config file (if any, checked against its schema) with options on top."""
    from migration.schemas import read_document, target_fields

    data: dict = {}
    if path:
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"config file {path} not found")
        data = target_fields(read_document(file, ConfigError), f"config file {file.name}")
    data.update(_given(overrides))
    if path:  # a production stack judged as `dev` on `local`'s names is the mistake this prevents
        _require_named(data, f"config file {Path(path).name}", "`soundbite migrate init` writes both")
    return Target(**data)


def _given(overrides: dict, fields: tuple[str, ...] | None = None) -> dict:
    """The options a person actually gave (of `fields`, when named)."""
    return {k: v for k, v in overrides.items()
            if v not in (None, "", ()) and (fields is None or k in fields)}


def _require_named(data: dict, where: str, how: str) -> None:
    """Nothing assumed: the stack and environment say whose ledger and names are meant."""
    missing = [key for key in ("stack", "environment") if not data.get(key)]
    if missing:
        raise ConfigError(f"{where} names no {' and no '.join(missing)}: nothing is assumed ({how})")


ROUTE_FIELDS = ("stack", "environment", "region", "zone_id", "record_name", "ledger_table",
                "asg_name", "worker_asg_name", "stack_file", "pulumi_dir")
"""What a rollback needs from a target file: where the weights are, and (best effort) where
the abort is written, which EC2 groups are raised and where their counts are configured."""


def load_route(path: str | None, **overrides) -> Target:
    """The rollback's part of a target file, read leniently: every other field (and any
    mistake in one) is ignored, so a broken file never keeps traffic on a failing canary. The
    stack and environment must still be named (in the file or as options): they say whose
    ledger records the abort, and the run to fence out."""
    from pydantic import ValidationError

    from migration.schemas import CapacityFile, read_document

    data: dict = {}
    if path and Path(path).is_file():
        try:
            document = read_document(Path(path), ConfigError)
        except ConfigError:  # not even readable: the options must name it all
            document = None
        if isinstance(document, dict):
            data = {k: v for k, v in document.items() if k in ROUTE_FIELDS and isinstance(v, str) and v}
            with contextlib.suppress(ValidationError):  # the recorded capacity, if sound on its own
                data["capacity"] = CapacityFile.model_validate(document.get("capacity")).model_dump()
    data.update(_given(overrides, ROUTE_FIELDS))
    _require_named(data, "the target", "they say whose ledger records the abort: pass --stack "
                   "and --environment")
    return Target(**data)
