"""The rehearsal's engine: `soundbite migrate` itself, in its own process, built by the factory.

    python -m migration.rehearsal.engine_process LANES.json run --config target.json --plan quick

runs the `migrate` command group with one override the factory takes: the lanes' process
health (LANES.json maps lane -> role -> pid) where no ECS service counts them. Everything
else, capacity included, comes from the target file, as in production; the process can be
killed like any `soundbite migrate run`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from migration.factory import EngineOverrides
from migration.rehearsal.lane_health import LaneProcessHealth


def lane_overrides(lanes: dict[str, dict[str, int]]) -> EngineOverrides:
    return EngineOverrides(health={lane: [LaneProcessHealth(pids)] for lane, pids in lanes.items()})


def main(argv: list[str] | None = None) -> None:
    from migration.cli import migrate

    lanes_file, *args = argv if argv is not None else sys.argv[1:]
    overrides = lane_overrides(json.loads(Path(lanes_file).read_text()))
    migrate.main(args, prog_name="soundbite migrate", obj={"engine_overrides": overrides})


if __name__ == "__main__":
    main()
