"""IAM derived from the code: every AWS call the API, the worker, the DLQ redrive and the
migration tool can make is granted to the role that runs it, by name, never by wildcard.

The calls are read from the code (tests/infra/boto_calls.py); the grants from the program's
policies (under mocks), from runbooks/migration-operator-policy.json (the operator running
`soundbite migrate`) and from runbooks/dlq-operator-policy.json (the operator running
`soundbite dlq inspect|redrive` by hand: prod has no redrive schedule). Module-level reading
over-approximates a little, so a few calls a process provably never reaches are listed in
NOT_REACHED with the reason; each must still exist, so the list cannot go stale. A client of
a service the reader does not know fails the reading; calls AWS answers without any IAM
permission are named in boto_calls.NO_GRANT_NEEDED.
"""

import json
from pathlib import Path

import pytest

from infra.components.iam import UNSCOPED_ACTIONS
from tests.infra.boto_calls import (
    NO_GRANT_NEEDED,
    SERVICES,
    UnknownService,
    calls,
    calls_in,
    calls_in_source,
    closure,
)
from tests.infra.pulumi_mocks import program_for

ROOT = Path(__file__).resolve().parents[2]
OPERATOR_POLICY = ROOT / "runbooks" / "migration-operator-policy.json"
DLQ_OPERATOR_POLICY = ROOT / "runbooks" / "dlq-operator-policy.json"

PROCESSES = {
    # process: (entry module, roles that run it)
    "api": ("soundbite.wsgi", ("ec2-roles-api", "fargate-roles-api")),
    "worker": ("worker.cli", ("ec2-roles-worker", "fargate-roles-worker")),
    "redrive": ("worker.redrive", ("redrive-task",)),
    "migration": ("migration.cli", ("operator",)),
    "dlq": ("soundbite.dlq", ("dlq-operator",)),
}
NOT_REACHED = {
    ("api", "soundbite.core.audio_store", "s3:PutObject"): "the API only presigns reads; the worker writes audio",
    ("worker", "soundbite.core.repository", "dynamodb:PutItem"): "records are created by the API",
    ("worker", "soundbite.core.repository", "dynamodb:Query"): "listing is the API's",
    ("migration", "migration.edge_metrics", "cloudwatch:PutMetricData"):
        "only the local rehearsal edge publishes; the tool reads the ALB's metrics",
    ("api", "service.api.soundbites", "sns:Publish"):
        "the job publisher's publish() (SQS SendMessage in soundbite.core.publisher), not SNS",
    # `soundbite dlq` loads the toolkit's target file (--config) and the worker's factory, but
    # builds only the redriver: no engine, metrics, hooks, audio store or synthesizer.
    **{("dlq", module, action): reason for module, actions, reason in (
        ("migration.edge_metrics", ("cloudwatch:PutMetricData",), "--config only reads the target file"),
        ("migration.metrics", ("cloudwatch:GetMetricData", "cloudwatch:GetMetricStatistics"),
         "--config only reads the target file"),
        ("migration.notify", ("sns:Publish",), "--config only reads the target file; no plan hooks"),
        ("soundbite.core.audio_store", ("s3:GetObject", "s3:PutObject"), "build_redriver builds no audio store"),
        ("soundbite.core.repository", ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"),
         "a refused letter only marks its soundbite failed (UpdateItem)"),
        ("worker.synth.polly", ("polly:SynthesizeSpeech",), "build_redriver builds no synthesizer"),
        ("soundbite.core.synth.catalog", ("polly:DescribeVoices",),
         "build_redriver builds no synthesizer (nor its catalog)"),
    ) for action in actions},
}


@pytest.fixture(scope="module")
def grants() -> dict[str, list[dict]]:
    run = program_for("shift-25")
    found = {r.name.removesuffix("-policy"): json.loads(r.inputs["policy"])["Statement"]
             for r in run.mocks.of_type("aws:iam/rolePolicy:RolePolicy")}
    found["operator"] = json.loads(OPERATOR_POLICY.read_text())["Statement"]
    found["dlq-operator"] = json.loads(DLQ_OPERATOR_POLICY.read_text())["Statement"]
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
                    "elasticloadbalancing:DescribeTargetHealth",
                    # `init --stack-file` finds the stack: list and describe calls that take no
                    # resource in IAM (autoscaling's is the same name, read by name only)
                    "elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeTargetGroups",
                    "autoscaling:DescribeLoadBalancers", "cognito-idp:ListUserPools",
                    "cognito-idp:ListUserPoolClients"}, (role, st)


def test_the_not_reached_list_names_calls_that_exist():
    for (process, module, action), reason in NOT_REACHED.items():
        assert reason and any(c.action == action for c in calls_in(module)), (process, module, action)


@pytest.mark.parametrize("role", ["redrive-task", "dlq-operator"])
def test_a_refused_redrive_may_mark_its_soundbite_failed(grants, role):
    """The redrive's repository is injected by the worker's factory, so the call reader cannot
    follow it (from worker.redrive): the grant, on the soundbites table, is asserted here."""
    assert any("dynamodb:UpdateItem" in _actions(st) and any(r.endswith("-soundbites") or "soundbites" in r
                                                            for r in st["Resource"])
               for st in grants[role]), grants[role]


def test_the_redrive_and_the_worker_may_return_dlq_messages(grants):
    for role in ("redrive-task", "dlq-operator", "ec2-roles-worker", "fargate-roles-worker"):
        assert _granted(grants[role], "sqs:ChangeMessageVisibility", "dlq"), role


def test_every_client_the_processes_create_is_of_a_service_the_reader_knows():
    """calls_in raises UnknownService on a client of a service outside SERVICES."""
    modules = set().union(*(closure(entry) for entry, _roles in PROCESSES.values()))
    for module in sorted(modules):
        calls_in(module)


def test_a_client_of_an_unknown_service_fails_the_reading():
    for source in ('import boto3\nboto3.client("kinesis").put_record()\n',
                   'session.client(service_name="kinesis")\n',
                   'client = aws.LazyClient("kinesis")\n'):
        with pytest.raises(UnknownService, match="'kinesis' client"):
            calls_in_source("example", source)
    known = calls_in_source("example", 'boto3.client("sns").publish(TopicArn=t, Message="m")\n')
    assert [c.action for c in known] == ["sns:Publish"]


def test_calls_that_need_no_grant_are_known_and_made():
    """Each allow-listed call names a service the reader knows, and the code makes it (so the
    list cannot go stale); no process is asked to be granted it."""
    made = {c.action for entry, _roles in PROCESSES.values() for m in closure(entry) for c in calls_in(m)}
    for action, reason in NO_GRANT_NEEDED.items():
        assert reason and action.split(":")[0] in SERVICES and action in made, action
    assert not any(c.action in NO_GRANT_NEEDED for entry, _roles in PROCESSES.values() for c in calls(entry))
