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
