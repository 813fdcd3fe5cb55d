"""Health providers behind one small interface: alarms, ECS, Auto Scaling, targets, HTTP probes.

Each provider answers `problems()` (sentences a person can act on, empty when healthy) and,
where it knows, `running()` (how many serving units the stack has right now).
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Protocol

from migration.judge import LaneWindow
from soundbite import spec


def _client(service: str, client):
    if client is not None:
        return client
    import boto3

    return boto3.client(service)


class HealthProvider(Protocol):
    def problems(self) -> list[str]: ...

    def running(self) -> int | None: ...


class AlarmStates:
    """CloudWatch alarms of the migration (by name prefix) that are in ALARM right now."""

    def __init__(self, prefix: str = "", client=None):
        self.prefix = prefix
        self._client = client

    def firing(self) -> tuple[str, ...]:
        client = _client("cloudwatch", self._client)
        kwargs = {"StateValue": "ALARM"}
        if self.prefix:
            kwargs["AlarmNamePrefix"] = self.prefix
        names = []
        for page in client.get_paginator("describe_alarms").paginate(**kwargs):
            names += [a["AlarmName"] for a in page.get("MetricAlarms", [])]
        return tuple(sorted(names))


class EcsServiceHealth:
    def __init__(self, cluster: str, service: str, client=None):
        self.cluster, self.service = cluster, service
        self._client = client

    def _describe(self) -> dict | None:
        found = _client("ecs", self._client).describe_services(
            cluster=self.cluster, services=[self.service])["services"]
        return found[0] if found else None

    def running(self) -> int | None:
        svc = self._describe()
        return svc["runningCount"] if svc else None

    def ensure_at_least(self, count: int) -> bool:
        """Raise the service's desired count to `count` (never lower it); True when it changed.
        Autoscaling and the phase's minimum own the count from there on."""
        svc = self._describe()
        if svc is None or svc["desiredCount"] >= count:
            return False
        _client("ecs", self._client).update_service(cluster=self.cluster, service=self.service,
                                                    desiredCount=count)
        return True

    def problems(self) -> list[str]:
        svc = self._describe()
        if svc is None or svc.get("status") != "ACTIVE":
            return [f"ECS service {self.service} not found or not active in {self.cluster}"]
        if svc["runningCount"] < svc["desiredCount"]:
            return [f"ECS service {self.service}: {svc['runningCount']} of {svc['desiredCount']} tasks running"]
        if svc["desiredCount"] == 0:
            return [f"ECS service {self.service} has no tasks (desired 0)"]
        return []


class AsgHealth:
    def __init__(self, name: str, client=None):
        self.name = name
        self._client = client

    def _describe(self) -> dict | None:
        groups = _client("autoscaling", self._client).describe_auto_scaling_groups(
            AutoScalingGroupNames=[self.name])["AutoScalingGroups"]
        return groups[0] if groups else None

    def running(self) -> int | None:
        group = self._describe()
        if group is None:
            return None
        return sum(1 for i in group["Instances"] if i["LifecycleState"] == "InService")

    def problems(self) -> list[str]:
        group = self._describe()
        if group is None:
            return [f"Auto Scaling group {self.name} not found"]
        in_service = sum(1 for i in group["Instances"] if i["LifecycleState"] == "InService")
        if in_service < group["DesiredCapacity"] or in_service == 0:
            return [f"Auto Scaling group {self.name}: {in_service} of {group['DesiredCapacity']} in service"]
        return []

    def ensure_at_least(self, count: int) -> bool:
        """Raise the desired capacity to `count` if it was reduced; True when it changed."""
        group = self._describe()
        if group is None or group["DesiredCapacity"] >= count:
            return False
        _client("autoscaling", self._client).update_auto_scaling_group(
            AutoScalingGroupName=self.name, DesiredCapacity=count,
            MinSize=min(group["MinSize"], count), MaxSize=max(group["MaxSize"], count))
        return True


class TargetHealth:
    def __init__(self, target_group_arn: str, client=None):
        self.arn = target_group_arn
        self._client = client

    def running(self) -> int | None:
        return None

    def problems(self) -> list[str]:
        states = [d["TargetHealth"]["State"] for d in _client("elbv2", self._client)
                  .describe_target_health(TargetGroupArn=self.arn)["TargetHealthDescriptions"]]
        healthy = states.count("healthy")
        if not states or healthy < len(states):
            return [f"target group {self.arn.split(':')[-1]}: {healthy} of {len(states)} targets healthy"]
        return []


class HttpProbe:
    """GETs the health path of each stack's direct name; used by the validate step."""

    def __init__(self, urls: Mapping[str, str], count: int = 10, timeout: float = 2.0,
                 path: str = spec.HEALTH_CHECK_PATH, clock: Callable[[], float] = time.perf_counter):
        self.urls, self.count, self.timeout, self.path = dict(urls), count, timeout, path
        self.clock = clock

    def _one(self, base: str) -> tuple[bool, float]:
        start = self.clock()
        try:
            with urllib.request.urlopen(base.rstrip("/") + self.path, timeout=self.timeout) as rsp:
                ok = 200 <= rsp.status < 400
        except (urllib.error.URLError, OSError, ValueError):
            ok = False
        return ok, 1000 * (self.clock() - start)

    def measure(self) -> dict[str, LaneWindow]:
        windows = {}
        for lane, base in self.urls.items():
            results = [self._one(base) for _ in range(self.count)]
            latencies = sorted(ms for _, ms in results)
            p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
            windows[lane] = LaneWindow(len(results), sum(1 for ok, _ in results if not ok), p95)
        return windows


def merge_windows(a: LaneWindow, b: LaneWindow) -> LaneWindow:
    p95s = [p for p in (a.p95_ms, b.p95_ms) if p is not None]
    return LaneWindow(a.requests + b.requests, a.errors + b.errors, max(p95s) if p95s else None)
