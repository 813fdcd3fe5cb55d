"""Network: a VPC with public and private subnets over two availability zones, or an existing one.

Public subnets hold the load balancers and the NAT gateway; private subnets hold the EC2
instances, the Fargate tasks and Redis, which reach AWS APIs and ECR through the NAT.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.config import ExistingNetwork

ZONES = 2
SUBNET_PREFIX = 20  # 4096 addresses per subnet: room for Fargate's one ENI per task


@dataclass(frozen=True)
class NetworkArgs:
    cidr: str
    existing: ExistingNetwork | None = None
    tags: dict[str, str] = field(default_factory=dict)


def subnet_cidrs(cidr: str, count: int) -> list[str]:
    """The first `count` /SUBNET_PREFIX blocks of `cidr`."""
    blocks = ipaddress.ip_network(cidr).subnets(new_prefix=SUBNET_PREFIX)
    return [str(next(blocks)) for _ in range(count)]


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    public_subnet_ids: pulumi.Output[list[str]]
    private_subnet_ids: pulumi.Output[list[str]]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("soundbite:infra:Network", name, None, opts)
        if args.existing:
            self.vpc_id = pulumi.Output.from_input(args.existing.vpc_id)
            self.public_subnet_ids = pulumi.Output.from_input(list(args.existing.public_subnet_ids))
            self.private_subnet_ids = pulumi.Output.from_input(list(args.existing.private_subnet_ids))
        else:
            self._create(name, args)
        self.register_outputs({
            "vpc_id": self.vpc_id,
            "public_subnet_ids": self.public_subnet_ids,
            "private_subnet_ids": self.private_subnet_ids,
        })

    def _create(self, name: str, args: NetworkArgs) -> None:
        child = pulumi.ResourceOptions(parent=self)
        tags = args.tags
        vpc = aws.ec2.Vpc(
            f"{name}-vpc", cidr_block=args.cidr, enable_dns_hostnames=True,
            enable_dns_support=True, tags={**tags, "Name": f"{name}-vpc"}, opts=child,
        )
        zones = aws.get_availability_zones_output(state="available").names
        cidrs = subnet_cidrs(args.cidr, 2 * ZONES)
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=tags, opts=child)
        public_rt = aws.ec2.RouteTable(
            f"{name}-public-rt", vpc_id=vpc.id,
            routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": igw.id}], tags=tags, opts=child,
        )
        public, private = [], []
        for i in range(ZONES):
            zone = zones.apply(lambda names, i=i: names[i])
            pub = aws.ec2.Subnet(
                f"{name}-public-{i}", vpc_id=vpc.id, cidr_block=cidrs[i], availability_zone=zone,
                map_public_ip_on_launch=False, tags={**tags, "Name": f"{name}-public-{i}"}, opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{i}-rta", subnet_id=pub.id, route_table_id=public_rt.id, opts=child
            )
            public.append(pub)
        # One NAT gateway keeps the bill small; its zone is a single point of egress failure,
        # acceptable here because the public path (ALB) spans both zones.
        eip = aws.ec2.Eip(f"{name}-nat-eip", domain="vpc", tags=tags, opts=child)
        nat = aws.ec2.NatGateway(
            f"{name}-nat", allocation_id=eip.id, subnet_id=public[0].id, tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
        )
        private_rt = aws.ec2.RouteTable(
            f"{name}-private-rt", vpc_id=vpc.id,
            routes=[{"cidr_block": "0.0.0.0/0", "nat_gateway_id": nat.id}], tags=tags, opts=child,
        )
        for i in range(ZONES):
            zone = zones.apply(lambda names, i=i: names[i])
            sub = aws.ec2.Subnet(
                f"{name}-private-{i}", vpc_id=vpc.id, cidr_block=cidrs[ZONES + i],
                availability_zone=zone, tags={**tags, "Name": f"{name}-private-{i}"}, opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{i}-rta", subnet_id=sub.id, route_table_id=private_rt.id, opts=child
            )
            private.append(sub)
        self.vpc_id = vpc.id
        self.public_subnet_ids = pulumi.Output.all(*[s.id for s in public])
        self.private_subnet_ids = pulumi.Output.all(*[s.id for s in private])
