"""`migrate doctor`: is this machine, this identity and this target ready to migrate?

Checks the region, the caller's identity, every resource the target names, that the metric
profile exists where it points, and the operator's permissions by IAM policy simulation of
the shipped operator policy's actions on their resources. A check that could not run says
"not checked" and why; it never passes silently.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from migration.router import Route53WeightedRouter
from migration.target import Target

MUST_CHECK = ("identity", "permissions")
"""Checks that fail `doctor` when they could not run, not only when they fail."""
OPERATOR_POLICY = Path(__file__).resolve().parent / "policies" / "migration-operator-policy.json"
"""runbooks/migration-operator-policy.json, shipped in the package (a link in the source tree)
so `doctor` finds it wherever the toolkit is installed."""


@dataclass(frozen=True)
class Finding:
    name: str
    ok: bool | None  # None: not checked
    detail: str

    @property
    def word(self) -> str:
        return {True: "pass", False: "FAIL", None: "not checked"}[self.ok]


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def _check(name: str, probe) -> Finding:
    try:
        return Finding(name, True, probe())
    except Exception as exc:  # noqa: BLE001 - every failure is the check's finding
        return Finding(name, False, _one_line(exc))


def principal_arn(caller_arn: str) -> str:
    """An assumed-role session's ARN is simulated as its role (what IAM evaluates)."""
    parts = caller_arn.split(":")
    if len(parts) == 6 and parts[2] == "sts" and parts[5].startswith("assumed-role/"):
        role = parts[5].split("/")[1]
        return f"arn:aws:iam::{parts[4]}:role/{role}"
    return caller_arn


def policy_statements(path: Path, values: dict[str, str]) -> list[dict]:
    """The shipped operator policy with its placeholders filled from the target."""
    text = path.read_text()
    for name, value in values.items():
        text = text.replace(f"<{name}>", value)
    return json.loads(text)["Statement"]


class Doctor:
    def __init__(self, target: Target, session, policy: Path = OPERATOR_POLICY,
                 principal: str | None = None, environ: dict | None = None):
        self.t, self.session, self.policy, self.principal = target, session, policy, principal
        self.environ = os.environ if environ is None else environ
        self.account: str | None = None
        self.caller: str | None = None

    def client(self, service: str):
        return self.session.client(service)

    def run(self) -> list[Finding]:
        found = [self._region(), self._identity(), self._metrics_profile(), self._capacity(),
                 self._synthetic()]
        found += self._resources()
        found.append(self._permissions())
        return found

    def _region(self) -> Finding:
        region = self.session.region_name
        return Finding("region", bool(region), region or "no region: set `region` in the target file")

    def _identity(self) -> Finding:
        def probe():
            who = self.client("sts").get_caller_identity()
            self.account, self.caller = who["Account"], who["Arn"]
            return f"{who['Arn']} (account {who['Account']})"
        return _check("identity", probe)

    def _metrics_profile(self) -> Finding:
        if self.t.metrics_problem:
            return Finding("metrics", False, self.t.metrics_problem)
        return Finding("metrics", True, f"profile {self.t.metrics}")

    def _capacity(self) -> Finding:
        """The stack's full capacities, from its config: never the engine's 2/2 default."""
        from migration.factory import stack_capacity

        configured, problem = stack_capacity(self.t)
        if problem:
            return Finding("capacity", False, problem)
        if configured is None:
            return Finding("capacity", None, "the target names no Auto Scaling group or ECS service "
                           "to size from the stack's config")
        return Finding("capacity", True, configured.describe())

    def _synthetic(self) -> Finding:
        """Validate's transactions and the top-up sign in as the synthetic user: really sign in."""
        from migration.preflight import NO_CLIENTS
        from migration.synthetic import token_source

        auth = self.t.synthetic_auth
        if not auth or set(self.t.direct_urls) != {"ec2", "fargate"}:
            return Finding("synthetic", False, f"validate would have no transaction clients: {NO_CLIENTS}")
        if auth.get("anonymous"):
            return Finding("synthetic", True, "anonymous (the API runs with authentication off)")
        password_env = auth.get("password_env")
        if password_env and not self.environ.get(password_env):
            return Finding("synthetic", False, f"set {password_env} to the synthetic user "
                           f"{auth.get('username')}'s password (runbooks/migration.md, first deploy)")

        def sign_in() -> str:
            token_source(auth, self.session, environ=self.environ).token(fresh=True)
            who = auth.get("username") or f"token command {auth.get('token_command')!r}"
            return f"{who} signed in"
        return _check("synthetic", sign_in)

    def _resources(self) -> list[Finding]:
        t, found = self.t, []
        if t.zone_id and t.record_name:
            def records():
                got = Route53WeightedRouter(t.zone_id, t.record_name, client=self.client("route53")).records()
                missing = sorted({"ec2", "fargate"} - set(got))
                if missing:
                    raise LookupError(f"no weighted record for {', '.join(missing)} at {t.record_name}")
                return f"{t.record_name}: weights " + ", ".join(
                    f"{k} {v.get('Weight')}" for k, v in sorted(got.items()))
            found.append(_check("records", records))
        else:
            found.append(Finding("records", False, "the target names no zone_id and record_name"))
        found.append(_check("ledger", lambda: f"table {t.ledger}: " + self.client("dynamodb").describe_table(
            TableName=t.ledger)["Table"]["TableStatus"].lower()))
        for label, name in (("queue", t.queue), ("dlq", t.dlq)):
            found.append(_check(label, lambda name=name: self.client("sqs").get_queue_url(
                QueueName=name)["QueueUrl"]))

        def alarms():
            pages = self.client("cloudwatch").get_paginator("describe_alarms").paginate(
                AlarmNamePrefix=t.alarms)
            count = sum(len(p.get("MetricAlarms", [])) + len(p.get("CompositeAlarms", [])) for p in pages)
            if not count:
                raise LookupError(f"no alarm named {t.alarms}*: the judge would see no alarm fire")
            return f"{count} alarms named {t.alarms}*"
        found.append(_check("alarms", alarms))
        if t.ecs_cluster and t.ecs_service:
            def service():
                svc = self.client("ecs").describe_services(cluster=t.ecs_cluster, services=[t.ecs_service])
                active = [s for s in svc["services"] if s.get("status") == "ACTIVE"]
                if not active:
                    raise LookupError(f"ECS service {t.ecs_service} not active in {t.ecs_cluster}")
                return f"{t.ecs_service}: {active[0]['runningCount']} of {active[0]['desiredCount']} running"
            found.append(_check("ecs-service", service))
        else:
            found.append(Finding("ecs-service", None, "the target names no ecs_cluster/ecs_service"))
        if t.asg_name:
            def group():
                groups = self.client("autoscaling").describe_auto_scaling_groups(
                    AutoScalingGroupNames=[t.asg_name])["AutoScalingGroups"]
                if not groups:
                    raise LookupError(f"Auto Scaling group {t.asg_name} not found")
                return f"{t.asg_name}: desired {groups[0]['DesiredCapacity']}"
            found.append(_check("ec2-group", group))
        else:
            found.append(Finding("ec2-group", None, "the target names no asg_name: rollback cannot "
                                 "restore EC2 capacity"))
        return found

    def _permissions(self) -> Finding:
        if not self.policy.is_file():
            return Finding("permissions", None, f"operator policy {self.policy.name} not found: pass --policy")
        if self.caller is None and self.principal is None:
            return Finding("permissions", None, "no caller identity to simulate")
        principal = self.principal or principal_arn(self.caller)
        values = {"REGION": self.session.region_name or "", "ACCOUNT": self.account or "",
                  "ENV": self.t.environment, "HOSTED_ZONE_ID": (self.t.zone_id or "").split("/")[-1],
                  "EC2_ASG_NAME": self.t.asg_name or "", "EC2_WORKER_ASG_NAME": self.t.worker_asg_name or ""}
        denied = []
        try:
            iam = self.client("iam")
            for statement in policy_statements(self.policy, values):
                results = iam.simulate_principal_policy(
                    PolicySourceArn=principal, ActionNames=statement["Action"],
                    ResourceArns=statement["Resource"])["EvaluationResults"]
                denied += [r["EvalActionName"] for r in results if r["EvalDecision"] != "allowed"]
        except Exception as exc:  # noqa: BLE001 - the simulator itself is unavailable
            return Finding("permissions", None, f"the IAM policy simulator did not answer: {_one_line(exc)}")
        if denied:
            return Finding("permissions", False, f"{principal} lacks {', '.join(sorted(set(denied)))} "
                           f"(see runbooks/{self.policy.name})")
        return Finding("permissions", True, f"{principal} may do everything the operator policy lists")


def passed(findings: list[Finding]) -> bool:
    """No check failed, and identity and permissions were checked: one that could not run has
    not passed (the operator would find the missing action during a rollback instead)."""
    return all(f.ok is True or (f.ok is None and f.name not in MUST_CHECK) for f in findings)


def as_dicts(findings: list[Finding]) -> list[dict]:
    return [{**asdict(f), "result": f.word} for f in findings]
