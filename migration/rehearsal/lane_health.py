"""Lane health for the judge: what ECS running counts are in AWS, process liveness is locally.

The engine runs in its own process, so it sees the lanes by process id, as `ps` would: a
process that is gone, or a zombie its parent has not reaped yet, has exited.
"""

from __future__ import annotations

from pathlib import Path


def alive(pid: int) -> bool:
    """True while `pid` runs (not gone, not a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


class LaneProcessHealth:
    """A lane's API and worker processes, seen the way ECS sees its tasks."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids  # role ("api", "worker") -> process id

    def running(self) -> int | None:
        return sum(alive(pid) for pid in self.pids.values())

    def problems(self) -> list[str]:
        return [f"{role} process exited (pid {pid})" for role, pid in self.pids.items() if not alive(pid)]
