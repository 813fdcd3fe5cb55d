"""The stack's outputs, found in AWS from its `Pulumi.<stack>.yaml` when Pulumi cannot answer.

`migrate init --stack-file` uses this where `pulumi stack output` is out of reach (no login to
the state backend, or a stack deployed by someone else): the stack file gives the environment,
the public name, the zone and the capacities; AWS gives the rest, each found the way the
program made it:

- the load balancers: the ones the public name's weighted records point at (Route 53 says
  which lane is which), and the target group each one forwards to;
- the EC2 groups: by the tags the program puts on them (Environment, Stack ec2, Role);
- the ECS cluster and service, the ledger, the queues and the user pool: by the names the
  program gives them (`soundbite-<environment>-...`).

What cannot be found is left out, and `target_from_outputs` names every missing output.
"""

from __future__ import annotations

from pathlib import Path

from botocore.exceptions import ClientError

from migration.capacity import read_program_config
from soundbite import spec

EC2, FARGATE = spec.STACKS


def outputs_from_stack_file(path: str | Path, session) -> dict:
    """The outputs `pulumi stack output --json` would print, as far as AWS can tell them."""
    cfg = read_program_config(path)
    names = spec.ResourceNames(cfg.environment)
    prefix = f"{names.prefix}-{cfg.environment}"
    outputs: dict[str, object] = {
        "environment": cfg.environment, "hostedZoneId": cfg.hosted_zone_id, "recordName": cfg.api_name,
        "ledgerTableName": names.table(spec.MIGRATION_LEDGER_TABLE),
        "queueName": names.queue(spec.JOBS_QUEUE), "dlqName": names.queue(spec.DLQ),
        "stackCapacity": {
            "shiftSteps": list(cfg.shift_steps),
            EC2: {"api": cfg.ec2_capacity.api, "worker": cfg.ec2_capacity.worker},
            FARGATE: {"api": cfg.fargate_capacity.api, "worker": cfg.fargate_capacity.worker}},
    }
    for lane, dns in _alias_targets(session.client("route53"), cfg.hosted_zone_id, cfg.api_name).items():
        found = _balancer(session.client("elbv2"), dns)
        if found:
            outputs[f"{lane}LoadBalancerArnSuffix"], outputs[f"{lane}TargetGroupArnSuffix"] = found
            outputs[f"{lane}DirectName"] = cfg.direct_name(lane)
    autoscaling = session.client("autoscaling")
    for role, key in (("api", "ec2AsgName"), ("worker", "ec2WorkerAsgName")):
        if name := _group(autoscaling, cfg.environment, role):
            outputs[key] = name
    cluster = f"{prefix}-fargate"
    if _service_exists(session.client("ecs"), cluster, "api"):
        outputs.update(fargateClusterName=cluster, fargateApiServiceName="api")
    if client_id := _user_pool_client(session.client("cognito-idp"), f"{prefix}-users"):
        outputs["userPoolClientId"] = client_id
    return outputs


def _alias_targets(route53, zone_id: str, record: str) -> dict[str, str]:
    """Each lane's load balancer DNS name, as the public name's weighted alias records hold it."""
    wanted = record.rstrip(".").lower() + "."
    answer = route53.list_resource_record_sets(HostedZoneId=zone_id, StartRecordName=wanted,
                                               StartRecordType="A")
    found = {}
    for rs in answer["ResourceRecordSets"]:
        if rs["Name"].lower() == wanted and rs.get("SetIdentifier") in (EC2, FARGATE) and rs.get("AliasTarget"):
            found[rs["SetIdentifier"]] = _bare(rs["AliasTarget"]["DNSName"])
    return found


def _bare(dns: str) -> str:
    """A load balancer's DNS name as `describe_load_balancers` gives it (an alias may add
    `dualstack.` and a trailing dot)."""
    return dns.lower().rstrip(".").removeprefix("dualstack.")


def _balancer(elbv2, dns: str) -> tuple[str, str] | None:
    """(load balancer ARN suffix, target group ARN suffix) of the balancer answering at `dns`."""
    for page in elbv2.get_paginator("describe_load_balancers").paginate():
        for lb in page["LoadBalancers"]:
            if _bare(lb["DNSName"]) == dns:
                groups = elbv2.describe_target_groups(LoadBalancerArn=lb["LoadBalancerArn"])["TargetGroups"]
                if not groups:
                    return None
                return (lb["LoadBalancerArn"].split(":loadbalancer/", 1)[1],
                        groups[0]["TargetGroupArn"].rsplit(":", 1)[1])
    return None


def _group(autoscaling, environment: str, role: str) -> str | None:
    """The one EC2 group tagged for this environment and role; None if none (or several)."""
    wanted = {"Environment": environment, "Stack": EC2, "Role": role}
    filters = [{"Name": f"tag:{key}", "Values": [value]} for key, value in wanted.items()]
    matching = [g["AutoScalingGroupName"]
                for page in autoscaling.get_paginator("describe_auto_scaling_groups").paginate(Filters=filters)
                for g in page["AutoScalingGroups"]
                # the tags checked here too: the filter only narrows what AWS sends
                if wanted.items() <= {t["Key"]: t["Value"] for t in g.get("Tags", [])}.items()]
    return matching[0] if len(matching) == 1 else None


def _service_exists(ecs, cluster: str, service: str) -> bool:
    try:
        found = ecs.describe_services(cluster=cluster, services=[service]).get("services") or []
    except ClientError as exc:  # no such cluster: the Fargate stack is not deployed yet
        if exc.response.get("Error", {}).get("Code") == "ClusterNotFoundException":
            return False
        raise
    return any(s.get("status") == "ACTIVE" for s in found)


def _user_pool_client(idp, pool_name: str) -> str | None:
    for page in idp.get_paginator("list_user_pools").paginate(MaxResults=60):
        for pool in page["UserPools"]:
            if pool["Name"] == pool_name:
                clients = idp.list_user_pool_clients(UserPoolId=pool["Id"], MaxResults=10)["UserPoolClients"]
                return clients[0]["ClientId"] if len(clients) == 1 else None
    return None
