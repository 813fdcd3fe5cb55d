"""Weighted DNS as a client sees it: read the records, cache them for their TTL, pick by weight."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping


class WeightedResolver:
    """Resolves the public name's weighted records from Route 53, honouring their TTL."""

    def __init__(self, route53, zone_id: str, record_name: str, lane_of_target: Mapping[str, str],
                 now=time.monotonic, rng: random.Random | None = None) -> None:
        self.route53 = route53
        self.zone_id = zone_id
        self.record_name = record_name.rstrip(".") + "."
        self.lane_of_target = dict(lane_of_target)
        self._now = now
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._weights: dict[str, int] = {}
        self._expires = 0.0

    def _read(self) -> tuple[dict[str, int], int]:
        records = self.route53.list_resource_record_sets(
            HostedZoneId=self.zone_id, StartRecordName=self.record_name)["ResourceRecordSets"]
        weights, ttl = {}, 60
        for record in records:
            if record["Name"] != self.record_name or "SetIdentifier" not in record:
                continue
            target = record["ResourceRecords"][0]["Value"]
            lane = self.lane_of_target.get(target.rstrip("."))
            if lane:
                weights[lane] = int(record["Weight"])
                ttl = min(ttl, int(record.get("TTL", ttl)))
        return weights, ttl

    def weights(self) -> dict[str, int]:
        with self._lock:
            if self._now() >= self._expires:
                try:
                    self._weights, ttl = self._read()
                    self._expires = self._now() + ttl
                except Exception:  # a resolver keeps its last answer when DNS hiccups
                    self._expires = self._now() + 1
            return dict(self._weights)

    def pick(self) -> str | None:
        weights = self.weights()
        lanes = [lane for lane in weights]
        if not lanes:
            return None
        total = sum(weights.values())
        if total == 0:  # Route 53 answers all-zero weighted sets with equal probability
            return self._rng.choice(lanes)
        return self._rng.choices(lanes, weights=[weights[lane] for lane in lanes])[0]
