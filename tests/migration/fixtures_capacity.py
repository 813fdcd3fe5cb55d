"""Stack config files for the capacity tests: a copy of a stack's `Pulumi.<stack>.yaml` with
its capacities and shift steps changed, and a target that names it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(name="stack_file")
def stack_file_fixture(tmp_path):
    """Write `Pulumi.<stack>.yaml` from the prod example with `changes` (keys without prefix)."""

    def write(stack: str = "dev", base: str = "prod", **changes) -> Path:
        data = yaml.safe_load((ROOT / f"Pulumi.{base}.yaml").read_text())
        for key, value in changes.items():
            data["config"][f"soundbite:{key}"] = value
        path = tmp_path / f"Pulumi.{stack}.yaml"
        path.write_text(yaml.safe_dump(data))
        return path

    return write
