"""Weighted DNS: one alias record per stack for the public name, plus a direct name per stack.

Weights come from the migration phase. AWS ignores TTL on alias records (resolvers use the
ALB's own record TTL, 60 s), so none is set here; spec.DNS_RECORD_TTL_SECONDS applies to the
plain CNAMEs of certificate validation only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class StackTarget:
    """One stack's load balancer as a DNS target, with its weight in this phase."""

    stack: str
    weight: int | None  # None: the stack has no public record in this phase
    dns_name: pulumi.Input[str]
    zone_id: pulumi.Input[str]
    # What must be serving before this stack's record takes traffic: the API service and its
    # scaling floor on Fargate, the API auto scaling group (which waits for ELB health) on EC2.
    serving: tuple[pulumi.Resource, ...] = field(default=())


@dataclass(frozen=True)
class WeightedDnsArgs:
    hosted_zone_id: str
    api_name: str
    targets: tuple[StackTarget, ...]


def check_weights(targets: tuple[StackTarget, ...]) -> None:
    """Refuse a record set whose weights are all zero: Route 53 would then split traffic evenly."""
    weighted = [t for t in targets if t.weight is not None]
    if not weighted:
        raise ValueError("no stack has a public record: the API name would not resolve")
    if sum(t.weight for t in weighted) <= 0:
        raise ValueError("every weighted record has weight 0; at least one stack must take traffic")


class WeightedDns(pulumi.ComponentResource):
    weighted: dict[str, aws.route53.Record]
    direct: dict[str, aws.route53.Record]

    def __init__(self, name: str, args: WeightedDnsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("soundbite:infra:WeightedDns", name, None, opts)
        check_weights(args.targets)
        self.weighted, self.direct = {}, {}
        for t in args.targets:
            self.direct[t.stack] = self._alias(f"{name}-{t.stack}-direct", args, f"{t.stack}.{args.api_name}", t)
        # Capacity before traffic: a record with weight waits for its stack to serve. Raise
        # before lowering: records going to weight 0 wait for the ones with traffic, so during
        # the update (one API call per record) the set is never all zero.
        receiving = [t for t in args.targets if t.weight]
        for t in receiving:
            self.weighted[t.stack] = self._alias(f"{name}-{t.stack}-weighted", args, args.api_name, t,
                                                 weight=t.weight, depends_on=list(t.serving))
        after = list(self.weighted.values())
        for t in args.targets:
            if t.weight == 0:
                self.weighted[t.stack] = self._alias(
                    f"{name}-{t.stack}-weighted", args, args.api_name, t, weight=0, depends_on=after)
        self.register_outputs({
            "record_name": args.api_name,
            "set_identifiers": {s: s for s in self.weighted},
        })

    def _alias(self, name, args: WeightedDnsArgs, fqdn, target: StackTarget, weight=None, depends_on=None):
        extra = {}
        if weight is not None:
            extra = {"set_identifier": target.stack, "weighted_routing_policies": [{"weight": weight}]}
        return aws.route53.Record(
            name, zone_id=args.hosted_zone_id, name=fqdn, type="A",
            aliases=[{"name": target.dns_name, "zone_id": target.zone_id, "evaluate_target_health": True}],
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on or []), **extra,
        )
