"""The SoundBite Pulumi program: both stacks, the shared data plane, and weighted DNS.

What gets built is decided by `soundbite:migrationPhase` (see infra/phases.py):

    ec2-only -> parallel -> validate -> shift-<N>... -> complete -> decommission

`pulumi config set soundbite:migrationPhase <phase> && pulumi up` is a complete way to
migrate: a phase change creates the Fargate stack (entering `parallel`), moves the Route 53
weights and the desired counts / scaling floors, and removes the EC2 stack (entering
`decommission`); the data plane, the image and everything else stay as they are. Every
config key is documented in Pulumi.dev.yaml. This module only composes components.

Before anything is registered the program reads the live weighted records (and the migration
ledger) and refuses to move traffic the configured phase does not account for; see
infra/traffic_guard.py for the rule and its one-run override.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra import config as program_config
from infra.alarms import StackBalancer, stack_alarm_names
from infra.components.cache import Cache, CacheArgs
from infra.components.certificate import ApiCertificate, CertificateArgs
from infra.components.cursor_secret import CursorSecret, CursorSecretArgs
from infra.components.data_plane import DataPlane, DataPlaneArgs
from infra.components.ec2_stack import Ec2Stack, Ec2StackArgs
from infra.components.ecr import ImageRepository, RepositoryArgs
from infra.components.environment import AppSettings, app_secrets, environment_output
from infra.components.fargate_stack import FargateStack, FargateStackArgs
from infra.components.iam import DataPlaneArns, ServiceRoles, ServiceRolesArgs
from infra.components.network import Network, NetworkArgs
from infra.components.observability import Observability, ObservabilityArgs
from infra.components.redrive_schedule import RedriveSchedule, RedriveScheduleArgs
from infra.components.user_pool import UserPool, UserPoolArgs
from infra.components.weighted_dns import StackTarget, WeightedDns, WeightedDnsArgs
from infra.config import ProgramConfig
from infra.live_traffic import read_live_traffic
from infra.phases import EC2, FARGATE
from infra.traffic_guard import (
    REFUSAL_MARKER,
    LiveTraffic,
    TrafficGuardError,
    check_traffic,
    ec2_shape,
)
from soundbite import spec


def guard_traffic(cfg: ProgramConfig) -> LiveTraffic:
    """Read live traffic and stop the run (cleanly, before any change) if it would move it."""
    ledger = cfg.names.table(spec.MIGRATION_LEDGER_TABLE)
    live = read_live_traffic(cfg.hosted_zone_id, cfg.api_name, ledger, pulumi.get_stack())
    try:
        check_traffic(cfg.phase, live, cfg.move_traffic_to, cfg.move_traffic_from)
    except TrafficGuardError as exc:
        raise pulumi.RunError(f"{REFUSAL_MARKER} {exc}") from exc
    return live


def build(cfg: ProgramConfig) -> dict[str, object]:
    """Create every resource the phase calls for; returns (and exports) the stack outputs."""
    names, tags, phase = cfg.names, cfg.tags, cfg.phase
    live = guard_traffic(cfg)
    ec2_now = ec2_shape(phase, cfg.ec2_capacity, live)
    prefix = f"{names.prefix}-{cfg.environment}"
    account = aws.get_caller_identity_output().account_id
    network = Network("network", NetworkArgs(cfg.vpc_cidr, cfg.existing_network, tags))
    data = DataPlane("data", DataPlaneArgs(names, cfg.web_origins, account, cfg.region, tags))
    repo = ImageRepository("image", RepositoryArgs(prefix, tags))
    image = pulumi.Output.from_input(cfg.image) if cfg.image else pulumi.Output.concat(
        repo.repository.repository_url, ":", cfg.image_tag)
    cache = None
    if cfg.redis:
        cache = Cache("cache", CacheArgs(prefix, cfg.redis_node_type, network.vpc_id, cfg.vpc_cidr,
                                         network.private_subnet_ids, tags))
    users = UserPool("auth", UserPoolArgs(f"{prefix}-users", cfg.region, cfg.environment, tags))
    cursor = CursorSecret("cursor", CursorSecretArgs(f"{prefix}/cursor-secret", tags))
    api_secrets = cursor.arn.apply(app_secrets)
    tables = data.tables
    settings = pulumi.Output.all(
        tables[spec.SOUNDBITES_TABLE.name].name, tables[spec.IDEMPOTENCY_TABLE.name].name,
        data.bucket.bucket, data.queue.url, data.dlq.url, users.issuer, users.jwks_url,
        users.audience, cache.url if cache else None,
    ).apply(lambda v: AppSettings(cfg.environment, cfg.region, v[0], v[1], v[2], v[3], v[4],
                                  cfg.rate_limit, v[5], v[6], v[7], v[8]))

    def arns(log_group: str) -> pulumi.Output:
        return pulumi.Output.all(
            tables[spec.SOUNDBITES_TABLE.name].arn, tables[spec.IDEMPOTENCY_TABLE.name].arn,
            data.bucket.arn, data.queue.arn, data.dlq.arn, repo.repository.arn, account, cursor.arn,
        ).apply(lambda v: DataPlaneArns(
            v[0], v[1], v[2], v[3], v[4], v[5],
            f"arn:aws:logs:{cfg.region}:{v[6]}:log-group:{log_group}", v[7]))

    certificate = ApiCertificate("api", CertificateArgs(cfg.api_name, cfg.hosted_zone_id, cfg.certificate_arn, tags))
    common = {
        "vpc_id": network.vpc_id, "public_subnet_ids": network.public_subnet_ids,
        "private_subnet_ids": network.private_subnet_ids, "certificate_arn": certificate.arn,
        "image": image, "region": cfg.region,
    }
    exports: dict[str, object] = {
        "environment": cfg.environment, "migrationPhase": phase.name, "weights": phase.weights,
        "liveWeightsBefore": live.weights,
        "hostedZoneId": cfg.hosted_zone_id, "recordName": cfg.api_name,
        "tableName": tables[spec.SOUNDBITES_TABLE.name].name,
        "idempotencyTableName": tables[spec.IDEMPOTENCY_TABLE.name].name,
        "ledgerTableName": tables[spec.MIGRATION_LEDGER_TABLE.name].name,
        "bucketName": data.bucket.bucket, "queueUrl": data.queue.url, "queueName": data.queue.name,
        "dlqUrl": data.dlq.url, "dlqName": data.dlq.name, "image": image,
        "ecrRepositoryUrl": repo.repository.repository_url,
        "userPoolId": users.pool.id, "userPoolClientId": users.audience,
        "authIssuer": users.issuer, "cursorSecretArn": cursor.arn,
        # Full capacities and shift steps (the phase's counts are ec2ApiCount etc.): what
        # `soundbite migrate init` records, so preflight and rollback use the deployed numbers.
        "stackCapacity": {
            "shiftSteps": list(cfg.shift_steps),
            EC2: {"api": cfg.ec2_capacity.api, "worker": cfg.ec2_capacity.worker},
            FARGATE: {"api": cfg.fargate_capacity.api, "worker": cfg.fargate_capacity.worker},
        },
    }
    targets, metrics = [], []
    if phase.ec2.exists:
        log_group = f"/{prefix}/ec2"
        roles = ServiceRoles("ec2-roles", ServiceRolesArgs(EC2, arns(log_group), tags))
        ec2 = Ec2Stack("ec2", Ec2StackArgs(
            shape=ec2_now, full=cfg.ec2_capacity, environment=environment_output(settings, EC2),
            log_group_name=log_group, instance_type=cfg.ec2_instance_type, roles=roles,
            ami_id=cfg.ec2_ami_id, api_secrets=api_secrets, tags=tags, **common))
        lb = ec2.alb.load_balancer
        targets.append(StackTarget(EC2, phase.ec2.weight, lb.dns_name, lb.zone_id,
                                   serving=(ec2.api_group,)))
        metrics.append(StackBalancer(EC2, lb.arn_suffix, ec2.alb.target_group.arn_suffix))
        exports.update({
            "ec2LoadBalancerArnSuffix": lb.arn_suffix,
            "ec2TargetGroupArnSuffix": ec2.alb.target_group.arn_suffix,
            "ec2AsgName": ec2.api_group.name, "ec2WorkerAsgName": ec2.worker_group.name,
            "ec2DirectName": cfg.direct_name(EC2), "ec2ApiCount": ec2_now.api_count,
            "ec2WorkerCount": ec2_now.worker_count,
        })
    if phase.fargate.exists:
        log_group = f"/{prefix}/fargate"
        roles = ServiceRoles("fargate-roles", ServiceRolesArgs(FARGATE, arns(log_group), tags))
        fargate = FargateStack("fargate", FargateStackArgs(
            shape=phase.fargate, full=cfg.fargate_capacity,
            environment=environment_output(settings, FARGATE), cluster_name=f"{prefix}-fargate",
            log_group_name=log_group, queue_name=data.queue.name, roles=roles,
            deployment_alarms=stack_alarm_names(prefix, FARGATE), api_secrets=api_secrets, tags=tags,
            **common))
        lb = fargate.alb.load_balancer
        targets.append(StackTarget(FARGATE, phase.fargate.weight, lb.dns_name, lb.zone_id, serving=(
            fargate.api_service, fargate.scaling.api_target)))
        metrics.append(StackBalancer(FARGATE, lb.arn_suffix, fargate.alb.target_group.arn_suffix))
        exports.update({
            "fargateLoadBalancerArnSuffix": lb.arn_suffix,
            "fargateTargetGroupArnSuffix": fargate.alb.target_group.arn_suffix,
            "fargateClusterName": fargate.cluster.name,
            "fargateApiServiceName": fargate.api_service.name,
            "fargateWorkerServiceName": fargate.worker_service.name,
            "fargateDirectName": cfg.direct_name(FARGATE), "fargateApiCount": phase.fargate.api_count,
            "fargateWorkerCount": phase.fargate.worker_count,
        })
    dns = WeightedDns("dns", WeightedDnsArgs(cfg.hosted_zone_id, cfg.api_name, tuple(targets)))
    exports["setIdentifiers"] = {stack: stack for stack in dns.weighted}
    watch = Observability("observability", ObservabilityArgs(
        prefix, cfg.region, tuple(metrics), data.queue.name, data.dlq.name,
        cfg.alarm_subscriber, tags))
    exports.update({
        "alarmTopicArn": watch.topic.arn, "alarmNames": [a.name for a in watch.alarms.values()],
        "dashboardName": watch.dashboard.dashboard_name,
    })
    if cfg.scheduled_redrive:
        log_group = f"/{prefix}/redrive"
        RedriveSchedule("redrive", RedriveScheduleArgs(
            cluster_name=f"{prefix}-ops", log_group_name=log_group, region=cfg.region, image=image,
            # The redrive task runs on Fargate whatever the phase, so its label never changes.
            environment=environment_output(settings, FARGATE),
            arns=arns(log_group), private_subnet_ids=network.private_subnet_ids,
            vpc_id=network.vpc_id, account_id=account, tags=tags))
    if cache:
        exports["redisUrl"] = cache.url
    for key, value in exports.items():
        pulumi.export(key, value)
    return exports


if __name__ == "__main__":
    build(program_config.load())
