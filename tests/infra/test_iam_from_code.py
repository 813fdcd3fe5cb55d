"""IAM derived from the code: every AWS call the API, the worker, the DLQ redrive and the
migration tool can make is granted to the role that runs it, by name, never by wildcard.

The calls are read from the code (tests/infra/boto_calls.py); the grants from the program's
policies (under mocks) and from runbooks/migration-operator-policy.json (the operator running
`soundbite migrate`). Module-level reading over-approximates a little, so a few calls a
process provably never reaches are listed in NOT_REACHED with the reason; each must still
exist, so the list cannot go stale.
"""

import json
from pathlib import Path

import pytest

from infra.components.iam import UNSCOPED_ACTIONS
from tests.infra.boto_calls import calls, calls_in
from tests.infra.pulumi_mocks import program_for

ROOT = Path(__file__).resolve().parents[2]
OPERATOR_POLICY = ROOT / "runbooks" / "migration-operator-policy.json"

PROCESSES = {
    # process: (entry module, roles that run it)
    "api": ("soundbite.wsgi", ("ec2-roles-api", "fargate-roles-api")),
    "worker": ("worker.cli", ("ec2-roles-worker", "fargate-roles-worker")),
    "redrive": ("worker.redrive", ("redrive-task",)),
    "migration": ("migration.cli", ("operator",)),
}
NOT_REACHED = {
    ("api", "soundbite.core.audio_store", "s3:PutObject"): "the API only presigns reads; the worker writes audio",
    ("api", "worker.synth.polly", "polly:SynthesizeSpeech"): "the API lists voices; synthesis is the worker's",
    ("worker", "soundbite.core.repository", "dynamodb:PutItem"): "records are created by the API",
    ("worker", "soundbite.core.repository", "dynamodb:Query"): "listing is the API's",
    ("migration", "migration.edge_metrics", "cloudwatch:PutMetricData"):
        "only the local rehearsal edge publishes; the tool reads the ALB's metrics",
}


@pytest.fixture(scope="module")
def grants() -> dict[str, list[dict]]:
    run = program_for("shift-25")
    found = {r.name.removesuffix("-policy"): json.loads(r.inputs["policy"])["Statement"]
             for r in run.mocks.of_type("aws:iam/rolePolicy:RolePolicy")}
    found["operator"] = json.loads(OPERATOR_POLICY.read_text())["Statement"]
    return found


def _actions(statement: dict) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def _granted(statements: list[dict], action: str, queue: str | None) -> bool:
    for st in statements:
        if st["Effect"] != "Allow" or action not in _actions(st):
            continue
        if queue is None or any(r.endswith("-jobs-dlq" if queue == "dlq" else "-jobs")
                                for r in st["Resource"]):
            return True
    return False


@pytest.mark.parametrize("process", sorted(PROCESSES))
def test_every_call_the_process_makes_is_granted_to_its_roles(grants, process):
    entry, roles = PROCESSES[process]
    needed = [c for c in calls(entry) if (process, c.module, c.action) not in NOT_REACHED]
    assert needed, f"no AWS calls found for {process}: the reader is broken"
    for role in roles:
        missing = sorted({f"{c.action} on {c.queue or 'its resource'} ({c.module}:{c.line})"
                          for c in needed if not _granted(grants[role], c.action, c.queue)})
        assert not missing, f"{role} runs {process} but is not granted: {missing}"


def test_no_statement_uses_a_wildcard_action_or_an_unscoped_resource_it_does_not_need(grants):
    for role, statements in grants.items():
        for st in statements:
            assert all("*" not in a for a in _actions(st)), (role, st)
            if st["Resource"] == ["*"]:
                assert set(_actions(st)) <= UNSCOPED_ACTIONS | {
                    "cloudwatch:GetMetricData", "cloudwatch:GetMetricStatistics",
                    "autoscaling:DescribeAutoScalingGroups",
                    "elasticloadbalancing:DescribeTargetHealth"}, (role, st)


def test_the_not_reached_list_names_calls_that_exist():
    for (process, module, action), reason in NOT_REACHED.items():
        assert reason and any(c.action == action for c in calls_in(module)), (process, module, action)


def test_a_refused_redrive_may_mark_its_soundbite_failed(grants):
    """The redrive's repository is injected by the worker's factory, so the call reader cannot
    follow it: the grant is asserted here instead."""
    assert any("dynamodb:UpdateItem" in _actions(st) and any(r.endswith("-soundbites") or "soundbites" in r
                                                            for r in st["Resource"])
               for st in grants["redrive-task"]), grants["redrive-task"]


def test_the_redrive_and_the_worker_may_return_dlq_messages(grants):
    for role in ("redrive-task", "ec2-roles-worker", "fargate-roles-worker"):
        assert _granted(grants[role], "sqs:ChangeMessageVisibility", "dlq"), role
