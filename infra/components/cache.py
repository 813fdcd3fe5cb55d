"""Optional Redis (ElastiCache) shared by both stacks: rate-limit counters and the read cache.

Shared, so a client's rate-limit window and cached reads do not reset when DNS moves it to
the other stack. In-transit encryption on, hence the `rediss://` URL.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

REDIS_PORT = 6379


@dataclass(frozen=True)
class CacheArgs:
    replication_group_id: str
    node_type: str
    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    private_subnet_ids: pulumi.Input[list[str]]
    tags: dict[str, str] = field(default_factory=dict)


class Cache(pulumi.ComponentResource):
    url: pulumi.Output[str]

    def __init__(self, name: str, args: CacheArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("soundbite:infra:Cache", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        subnets = aws.elasticache.SubnetGroup(
            f"{name}-subnets", subnet_ids=args.private_subnet_ids, tags=args.tags, opts=child)
        sg = aws.ec2.SecurityGroup(
            f"{name}-sg", vpc_id=args.vpc_id, description="Redis from inside the VPC",
            ingress=[{"protocol": "tcp", "from_port": REDIS_PORT, "to_port": REDIS_PORT,
                      "cidr_blocks": [args.vpc_cidr]}],
            tags=args.tags, opts=child,
        )
        group = aws.elasticache.ReplicationGroup(
            f"{name}-redis", replication_group_id=args.replication_group_id,
            description="SoundBite rate limits and read cache", engine="redis",
            node_type=args.node_type, num_cache_clusters=2, automatic_failover_enabled=True,
            multi_az_enabled=True, port=REDIS_PORT, subnet_group_name=subnets.name,
            security_group_ids=[sg.id], at_rest_encryption_enabled=True,
            transit_encryption_enabled=True, tags=args.tags, opts=child,
        )
        self.url = pulumi.Output.concat("rediss://", group.primary_endpoint_address, f":{REDIS_PORT}")
        self.register_outputs({"url": self.url})
