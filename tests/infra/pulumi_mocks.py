"""Run the Pulumi program against recording mocks: no cloud, no CLI.

Pulumi's runtime settings are process-global, so every build gets a fresh event loop, a
cleared root resource and new mocks; tests never see each other's resources.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

import pulumi
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.mocks import test as run_with_mocks

ACCOUNT = "123456789012"
REGION = "us-east-1"
ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"]
UNREADABLE = {"unreadable": True}
"""As `ledger`: the ledger's table exists but the read is denied."""


@dataclass
class Recorded:
    typ: str
    name: str
    inputs: dict


@dataclass
class RecordingMocks(pulumi.runtime.Mocks):
    resources: list[Recorded] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    live: dict[str, int] = field(default_factory=dict)  # Route 53 weights of the public name
    ledger: dict | None = None  # the migration ledger's run state; None: no table yet
    api_name: str = "api.dev.example.com"

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.resources.append(Recorded(args.typ, args.name, dict(args.inputs)))
        state = dict(args.inputs)
        module = args.typ.split(":")[1].split("/")[0]
        state.setdefault("name", args.name)
        state.setdefault("arn", f"arn:aws:{module}:{REGION}:{ACCOUNT}:{args.name}")
        state.update(_computed(args.typ, args.name, state))
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs):
        self.calls.append(args.token)
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            return {"names": ZONES, "zoneIds": [z.replace("us-east-", "use1-az") for z in ZONES]}
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/test", "userId": "AIDTEST"}
        if args.token == "aws:route53/getRecords:getRecords":
            return {"zoneId": args.args["zoneId"], "nameRegex": args.args.get("nameRegex"),
                    "resourceRecordSets": [
                        {"name": f"{self.api_name}.", "type": "A", "setIdentifier": stack, "weight": weight}
                        for stack, weight in self.live.items()]}
        if args.token == "aws:dynamodb/getTableItem:getTableItem":
            if self.ledger is None:  # as the provider answers when the table or item is missing
                return {}, [("tableName", f"reading DynamoDB Table Item ({args.args['tableName']}): not found")]
            if self.ledger == UNREADABLE:  # the table is there, but this caller may not read it
                return {}, [("tableName", f"reading DynamoDB Table Item ({args.args['tableName']}): "
                             "operation error DynamoDB: GetItem, AccessDeniedException: not authorized")]
            item = {"pk": {"S": json.loads(args.args["key"])["pk"]["S"]}, "sk": {"S": "STATE"},
                    "doc": {"S": json.dumps(self.ledger)}}
            return {"item": json.dumps(item), "tableName": args.args["tableName"]}
        return {}

    def of_type(self, typ: str) -> list[Recorded]:
        return [r for r in self.resources if r.typ == typ]

    def named(self, name: str) -> Recorded:
        matches = [r for r in self.resources if r.name == name]
        assert len(matches) == 1, f"{name}: {len(matches)} resources"
        return matches[0]


def _computed(typ: str, name: str, state: dict) -> dict:
    """Outputs AWS would compute, shaped like the provider returns them."""
    if typ == "aws:lb/loadBalancer:LoadBalancer":
        return {"dnsName": f"{name}.elb.amazonaws.com", "zoneId": "Z35SXDOTRQ7X7K", "arnSuffix": f"app/{name}/abc"}
    if typ == "aws:lb/targetGroup:TargetGroup":
        return {"arnSuffix": f"targetgroup/{name}/def"}
    if typ == "aws:sqs/queue:Queue":
        return {"url": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{state['name']}",
                "arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{state['name']}"}
    if typ == "aws:dynamodb/table:Table":
        return {"arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{state['name']}"}
    if typ == "aws:s3/bucket:Bucket":
        return {"arn": f"arn:aws:s3:::{state['bucket']}"}
    if typ == "aws:ecr/repository:Repository":
        return {"repositoryUrl": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{state['name']}"}
    if typ == "aws:ecs/taskDefinition:TaskDefinition":
        return {"arn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{state['family']}:1"}
    if typ == "aws:acm/certificate:Certificate":
        return {"domainValidationOptions": [{
            "domainName": state["domainName"], "resourceRecordName": f"_x.{state['domainName']}.",
            "resourceRecordType": "CNAME", "resourceRecordValue": "_y.acm-validations.aws.",
        }]}
    if typ == "aws:acm/certificateValidation:CertificateValidation":
        return {"certificateArn": state["certificateArn"]}
    if typ == "aws:route53/record:Record":
        return {"fqdn": state["name"]}
    if typ == "aws:ec2/launchTemplate:LaunchTemplate":
        return {"latestVersion": 1}
    if typ == "aws:elasticache/replicationGroup:ReplicationGroup":
        return {"primaryEndpointAddress": f"{name}.cache.amazonaws.com"}
    return {}


@dataclass
class Options:
    """The resource options a resource was registered with (what mocks do not see)."""

    depends_on: list[str]  # logical names
    ignore_changes: list[str]
    protect: bool


@dataclass
class ProgramRun:
    mocks: RecordingMocks
    exports: dict
    options: dict[str, Options] = field(default_factory=dict)  # by logical name

    def depends_on(self, name: str) -> list[str]:
        return self.options[name].depends_on


def run_program(build, *args, mocks: RecordingMocks | None = None) -> ProgramRun:
    """Run `build(*args)` under fresh mocks; returns the recorded resources and resolved exports."""
    mocks = mocks or RecordingMocks()
    resolved: dict = {}
    options: dict[str, Options] = {}

    def record(args: pulumi.ResourceTransformationArgs):
        opts = args.opts
        deps = opts.depends_on or []
        deps = deps if isinstance(deps, list) else [deps]
        options[args.name] = Options(
            [d._name for d in deps if isinstance(d, pulumi.Resource)],
            list(opts.ignore_changes or []), bool(opts.protect))
        return None
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        runtime_settings.ROOT.set(None)
        pulumi.runtime.set_mocks(mocks, project="soundbite", stack="test", preview=False)

        def program():
            pulumi.runtime.register_stack_transformation(record)
            outputs = build(*args)
            return pulumi.Output.all(**outputs).apply(resolved.update)

        run_with_mocks(program)()
    finally:
        runtime_settings.ROOT.set(None)
        asyncio.set_event_loop(None)
        loop.close()
    return ProgramRun(mocks, resolved, options)


BASE_CONFIG = {
    "environment": "dev",
    "hostedZoneId": "Z0123456789TEST",
    "apiName": "api.dev.example.com",
    "imageTag": "v1",
    "migrationPhase": "ec2-only",
}
_RUNS: dict[tuple, ProgramRun] = {}


def program_for(phase: str, live: dict[str, int] | None = None, ledger: dict | None = None,
                **overrides: str) -> ProgramRun:
    """The program built for `phase` (and config overrides), with Route 53 showing `live`
    weights (none: a first deploy) and the ledger holding `ledger` (None: no table yet);
    cached, since a build is pure."""
    from importlib import import_module

    from infra import config

    values = {**BASE_CONFIG, "migrationPhase": phase, **overrides}
    key = (tuple(sorted(values.items())), json.dumps(live, sort_keys=True), json.dumps(ledger, sort_keys=True))
    if key not in _RUNS:
        program = import_module("infra.__main__")
        cfg = config.from_values(values, REGION)
        mocks = RecordingMocks(live=dict(live or {}), ledger=ledger, api_name=cfg.api_name)
        _RUNS[key] = run_program(program.build, cfg, mocks=mocks)
    return _RUNS[key]
