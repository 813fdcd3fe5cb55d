"""The suite's own scheduling: tests that must share one test process really do.

`make test` runs `--dist loadgroup`; tests marked with one `xdist_group` (the rehearsals,
the docker builds) run one after another in one process. If a pytest or xdist upgrade stops
grouping, nothing fails by itself: two rehearsals just start starving each other. This does."""

from __future__ import annotations

import pytest


@pytest.mark.xdist_group("grouping-check")
def test_xdist_group_marks_put_tests_in_one_group(request):
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("not run with --dist loadgroup")
    assert request.node.nodeid.endswith("@grouping-check"), (
        "xdist no longer groups tests by xdist_group with this pytest; see the pin in pyproject.toml")
