"""A runtime install asked for a toolkit command says which extra to install: every
distribution the `toolkit` extra brings has a module the CLI recognises as the toolkit's."""

import re
from importlib import metadata

from packaging.requirements import Requirement

from soundbite.cli import TOOLKIT_MODULES


def test_every_distribution_of_the_toolkit_extra_is_recognised_by_the_cli():
    toolkit = [Requirement(r) for r in metadata.requires("soundbite") or []]
    names = {_normal(r.name) for r in toolkit if r.marker and r.marker.evaluate({"extra": "toolkit"})}
    modules: dict[str, set[str]] = {name: set() for name in names}
    for module, dists in metadata.packages_distributions().items():
        for dist in dists:
            if _normal(dist) in modules:
                modules[_normal(dist)].add(module)
    unrecognised = sorted(name for name, found in modules.items() if not found & TOOLKIT_MODULES)
    assert names and not unrecognised, f"add a module of {unrecognised} to soundbite.cli.TOOLKIT_MODULES"


def _normal(name: str) -> str:
    """A distribution's name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_root_command_never_prints_a_traceback_and_answers_json_when_asked(monkeypatch):
    """A usage mistake under --json is JSON (exit 2); a module missing from an install, the
    toolkit's or any other, is one line (JSON under --json), not a Python traceback."""
    import json

    from click.testing import CliRunner

    from soundbite import cli

    runner = CliRunner()
    usage = runner.invoke(cli.main, ["migrate", "status", "--json", "--no-such-option"])
    answer = json.loads(usage.output)  # as `migrate` answers a bad plan: exit 2 says usage
    assert usage.exit_code == 2 and answer["exit_code"] == 2 and answer["status"] == "error"
    assert "no-such-option" in answer["message"]
    monkeypatch.setitem(cli.COMMANDS, "ghost", ("soundbite_no_such_module:ghost", "A broken install."))
    broken = runner.invoke(cli.main, ["ghost"])
    assert broken.exit_code == 1 and "No module named 'soundbite_no_such_module'" in broken.output
    assert "Traceback" not in broken.output and len(broken.output.strip().splitlines()) == 1
    assert json.loads(runner.invoke(cli.main, ["ghost", "--json"]).output)["status"] == "error"
    monkeypatch.setitem(cli.COMMANDS, "ghost", ("pulumi_no_such:ghost", "Needs the toolkit."))
    monkeypatch.setattr(cli, "TOOLKIT_MODULES", cli.TOOLKIT_MODULES | {"pulumi_no_such"})
    hint = runner.invoke(cli.main, ["ghost", "--json"])
    assert "soundbite[toolkit]" in json.loads(hint.output)["message"]
