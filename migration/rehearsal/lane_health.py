"""Lane health for the judge: what ECS running counts are in AWS, process liveness is locally."""

from __future__ import annotations

from infra.local.stack import Lane


class LaneProcessHealth:
    """A lane's API and worker processes, seen the way ECS sees its tasks."""

    def __init__(self, lane: Lane) -> None:
        self.lane = lane

    def running(self) -> int | None:
        return sum(p is not None and p.poll() is None for p in (self.lane.api, self.lane.worker))

    def problems(self) -> list[str]:
        found = []
        for role in ("api", "worker"):
            process = getattr(self.lane, role)
            if process is not None and process.poll() is not None:
                found.append(f"{role} process exited (code {process.returncode})")
        return found
