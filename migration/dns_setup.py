"""Create a hosted zone with the two weighted records, as the infra program does in AWS.

Locally the records are plain CNAME (or A) records with SetIdentifier "ec2"/"fargate"; in
AWS they are aliases to each stack's ALB. Only UPSERT is used: the emulator's DELETE by
SetIdentifier removes every record with that identifier in the zone.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from soundbite import spec


def weighted_record(name: str, stack: str, weight: int, target: str, record_type: str = "CNAME",
                    ttl: int = spec.DNS_RECORD_TTL_SECONDS) -> dict:
    return {
        "Name": name, "Type": record_type, "SetIdentifier": stack, "Weight": weight, "TTL": ttl,
        "ResourceRecords": [{"Value": target}],
    }


def create_weighted_zone(route53, zone_name: str, record_name: str, targets: Mapping[str, str],
                         weights: Mapping[str, int], record_type: str = "CNAME",
                         ttl: int = spec.DNS_RECORD_TTL_SECONDS) -> str:
    """Create the zone and one weighted record per stack; returns the hosted zone id."""
    zone = route53.create_hosted_zone(Name=zone_name, CallerReference=uuid.uuid4().hex)
    zone_id = zone["HostedZone"]["Id"].split("/")[-1]
    upsert_weighted_records(route53, zone_id, record_name, targets, weights, record_type, ttl)
    return zone_id


def upsert_weighted_records(route53, zone_id: str, record_name: str, targets: Mapping[str, str],
                            weights: Mapping[str, int], record_type: str = "CNAME",
                            ttl: int = spec.DNS_RECORD_TTL_SECONDS) -> None:
    changes = [
        {"Action": "UPSERT",
         "ResourceRecordSet": weighted_record(record_name, stack, int(weights[stack]), target,
                                              record_type, ttl)}
        for stack, target in targets.items()
    ]
    route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})
