"""Traffic routers: one small interface (`set_weights`, `verify`, `current`), two backends.

`Route53WeightedRouter` changes both weighted records in one atomic change batch and waits
for INSYNC; it needs nothing but Route 53, so rollback works when Pulumi does not.
`PulumiRouter` sets `soundbite:migrationPhase` and runs `pulumi up` through the Automation API,
then reads the records back through Route 53.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from botocore.exceptions import BotoCoreError, ClientError

from infra import automation, phases
from migration.exceptions import DriftError, RouterError, WeightsChangedError
from soundbite import spec

INSYNC_TIMEOUT_SECONDS = spec.INSYNC_TIMEOUT_SECONDS
INSYNC_POLL_SECONDS = spec.INSYNC_POLL_SECONDS
INSYNC_FIRST_POLL_SECONDS = spec.INSYNC_FIRST_POLL_SECONDS


def check_weights(weights: Mapping[str, int]) -> None:
    """Refuse weights that would leave no stack serving or name an unknown stack."""
    unknown = sorted(set(weights) - set(spec.STACKS))
    if unknown:
        raise RouterError(f"unknown stack(s) {', '.join(unknown)}; known: {', '.join(spec.STACKS)}")
    if any(w < 0 or w > 255 for w in weights.values()):
        raise RouterError(f"Route 53 weights must be 0..255, got {describe(weights)}")
    if sum(weights.values()) <= 0:
        raise RouterError(f"refusing all-zero weights {describe(weights)}: no stack would serve")


def same_weights(live: Mapping[str, int], wanted: Mapping[str, int]) -> bool:
    return {k: live.get(k) for k in wanted} == {k: int(v) for k, v in wanted.items()}


def describe(weights: Mapping[str, int] | None) -> str:
    """Weights for a person: `ec2 95 / fargate 5` (the stacks first, in spec order)."""
    if not weights:
        return "no weights"
    order = [*spec.STACKS, *(k for k in weights if k not in spec.STACKS)]
    return " / ".join(f"{lane} {weights[lane]}" for lane in order if lane in weights)


def fargate_percent(weights: Mapping[str, int]) -> int:
    total = sum(weights.values())
    return round(100 * weights.get(spec.STACKS[1], 0) / total) if total else 0


class Router(Protocol):
    def current(self) -> dict[str, int]: ...

    def set_weights(self, weights: Mapping[str, int],
                    expect: Mapping[str, int] | None = None) -> str: ...

    def verify(self, weights: Mapping[str, int]) -> None: ...


class Route53WeightedRouter:
    def __init__(self, zone_id: str, record_name: str, client=None,
                 sleep: Callable[[float], None] = time.sleep, now: Callable[[], float] = time.time,
                 insync_timeout: float = INSYNC_TIMEOUT_SECONDS,
                 poll_seconds: float = INSYNC_POLL_SECONDS):
        self.zone_id = zone_id
        self.record_name = record_name.rstrip(".") + "."
        self._client = client
        self.sleep, self.now = sleep, now
        self.insync_timeout = insync_timeout
        self.poll_seconds = poll_seconds
        self.on_poll: Callable[[], None] = lambda: None
        """Called after every INSYNC poll: the executor keeps its lease alive there."""

    @property
    def client(self):
        if self._client is None:
            import boto3

            self._client = boto3.client("route53")
        return self._client

    def records(self) -> dict[str, dict]:
        """The weighted record sets of both stacks, keyed by SetIdentifier."""
        try:
            pages = self.client.get_paginator("list_resource_record_sets").paginate(
                HostedZoneId=self.zone_id, StartRecordName=self.record_name)
            found = {}
            for page in pages:
                for record in page["ResourceRecordSets"]:
                    if record["Name"] != self.record_name:
                        continue
                    if record.get("SetIdentifier") in spec.STACKS:
                        found[record["SetIdentifier"]] = record
            return found
        except (ClientError, BotoCoreError) as exc:
            raise RouterError(f"cannot read {self.record_name} in zone {self.zone_id}: {exc}") from exc

    def current(self) -> dict[str, int]:
        return {stack: int(r.get("Weight", 0)) for stack, r in self.records().items()}

    def set_weights(self, weights: Mapping[str, int],
                    expect: Mapping[str, int] | None = None) -> str:
        """One atomic UPSERT of both records; returns the change id once INSYNC.

        With `expect`, the records are re-read first and the change is refused
        (WeightsChangedError) unless they still carry those weights."""
        check_weights(weights)
        records = self.records()
        if expect is not None:
            live = {stack: int(r.get("Weight", 0)) for stack, r in records.items()}
            if not same_weights(live, expect):
                raise WeightsChangedError(f"Route 53 shows {describe(live)}, not {describe(expect)} as this run "
                                          "last set: someone else moved traffic; standing down")
        missing = sorted(set(weights) - set(records))
        if missing:
            raise RouterError(f"no weighted record for {', '.join(missing)} at {self.record_name}: "
                              "refusing to point traffic at a missing target")
        changes = []
        for stack, weight in weights.items():
            record = {k: v for k, v in records[stack].items() if k != "HealthCheckId" or v}
            record["Weight"] = int(weight)
            changes.append({"Action": "UPSERT", "ResourceRecordSet": record})
        try:
            change = self.client.change_resource_record_sets(
                HostedZoneId=self.zone_id,
                ChangeBatch={"Comment": f"soundbite migrate: {describe(weights)}", "Changes": changes})
        except (ClientError, BotoCoreError) as exc:
            raise RouterError(f"Route 53 refused the weight change: {exc}") from exc
        change_id = change["ChangeInfo"]["Id"]
        self.wait_insync(change_id, change["ChangeInfo"]["Status"])
        return change_id

    def wait_insync(self, change_id: str, status: str) -> None:
        """Poll until INSYNC; a failed poll (throttling, a timeout) is retried until the deadline.

        The first poll comes after INSYNC_FIRST_POLL_SECONDS, each wait after that doubles up
        to `poll_seconds`: a change Route 53 applies in a second or two is seen as such (a
        rollback is done that much sooner), and a slow one costs a poll every `poll_seconds`."""
        deadline, last_error = self.now() + self.insync_timeout, None
        wait = min(INSYNC_FIRST_POLL_SECONDS, self.poll_seconds)
        while status != "INSYNC":
            if self.now() >= deadline:
                cause = f" (last poll: {last_error})" if last_error else ""
                raise RouterError(f"change {change_id} not INSYNC after {self.insync_timeout:.0f} s{cause}")
            self.sleep(wait)
            wait = min(wait * 2, self.poll_seconds)
            self.on_poll()
            try:
                status = self.client.get_change(Id=change_id)["ChangeInfo"]["Status"]
            except (ClientError, BotoCoreError) as exc:
                last_error = exc

    def verify(self, weights: Mapping[str, int]) -> None:
        live = self.current()
        if not same_weights(live, weights):
            raise RouterError(f"Route 53 shows {describe(live)}, expected {describe(weights)}")


class PulumiRouter:
    """Moves traffic by changing the stack's migration phase and running `pulumi up`."""

    def __init__(self, stack, reader: Route53WeightedRouter, phase_table: tuple[phases.Phase, ...],
                 on_output: Callable[[str], None] | None = None):
        self.stack = stack  # infra.automation.PulumiStack
        self.reader = reader
        self.phase_table = phase_table
        self.on_output = on_output
        self.on_preview: Callable[[str, dict[str, int]], None] | None = None
        """Shown the preview's changes (by kind) before every `pulumi up`."""

    def current(self) -> dict[str, int]:
        return self.reader.current()

    def _phase(self, weights: Mapping[str, int]) -> phases.Phase:
        try:
            return phases.phase_for_fargate_percent(fargate_percent(weights), self.phase_table)
        except phases.UnknownPhaseError as exc:
            raise RouterError(f"{exc}; use the Route 53 router for weights outside the phase table") from exc

    def preview_move(self, weights: Mapping[str, int]) -> tuple[str, dict[str, int]]:
        """`pulumi preview` of the phase that sets `weights`, with the stack's config put back as
        it was: what a person sees before confirming any `pulumi up`."""
        check_weights(weights)
        phase = self._phase(weights)
        previous = self.stack.get_phase()
        self.stack.set_phase(phase.name)
        try:
            changes = self.stack.preview(on_output=self.on_output,
                                         moving_from=fargate_percent(self.reader.current()))
        except automation.TrafficRefusedError as exc:  # refused before anything moved
            raise DriftError(str(exc)) from exc
        finally:  # as it was, also when no phase was set
            self._restore_phase(previous)
        return phase.name, changes

    def set_weights(self, weights: Mapping[str, int],
                    expect: Mapping[str, int] | None = None) -> str:
        check_weights(weights)
        if expect is not None and not same_weights(live := self.reader.current(), expect):
            raise WeightsChangedError(f"Route 53 shows {describe(live)}, not {describe(expect)} as this run "
                                      "last set: someone else moved traffic; standing down")
        phase = self._phase(weights)
        moving_from = None if expect is None else fargate_percent(expect)
        previous = self.stack.get_phase()
        self.stack.set_phase(phase.name)
        try:
            changes = self.stack.preview(on_output=self.on_output, moving_from=moving_from)
            if self.on_preview is not None:
                self.on_preview(phase.name, changes)
            self.stack.up(on_output=self.on_output, moving_from=moving_from)
        except automation.TrafficRefusedError as exc:  # the program saw someone else's move
            with contextlib.suppress(automation.AutomationError):  # best effort: standing down
                self._restore_phase(previous)
            raise WeightsChangedError(f"{exc}; standing down") from exc
        return phase.name

    def _restore_phase(self, previous: str | None) -> None:
        """The config back to the phase it named before (none, if none was set), so it never
        names a phase Route 53 did not take."""
        if previous is None:
            self.stack.clear_phase()
        else:
            self.stack.set_phase(previous)

    def verify(self, weights: Mapping[str, int]) -> None:
        self.reader.verify(weights)
