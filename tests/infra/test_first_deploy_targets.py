"""The first deploy's targeted `pulumi up` (runbooks/migration.md, step 3) names the image
repository's component and every child of it, so an empty stack can create them: Pulumi
refuses a targeted child whose parent it would skip."""

from __future__ import annotations

import re
from pathlib import Path

import pulumi

from infra.components.ecr import ImageRepository, RepositoryArgs
from tests.infra.pulumi_mocks import run_program

RUNBOOK = Path(__file__).resolve().parents[2] / "runbooks" / "migration.md"


def targeted_urns() -> list[str]:
    [line] = [line for line in RUNBOOK.read_text().splitlines()
              if line.startswith("pulumi up --target")]
    return [urn.replace("<STACK>", "test") for urn in re.findall(r"--target '([^']+)'", line)]


def repository_urns() -> set[str]:
    """Every URN the program's `ImageRepository("image", ...)` registers, itself included."""
    created: list[pulumi.Resource] = []

    def record(args: pulumi.ResourceTransformationArgs):
        created.append(args.resource)

    def build():
        pulumi.runtime.register_stack_transformation(record)
        ImageRepository("image", RepositoryArgs("soundbite-dev", {}))
        return {"urns": pulumi.Output.all(*[r.urn for r in created])}

    # The mock monitor keeps the root stack in a top-level resource's type chain; the engine
    # leaves it out (`urn:pulumi:<stack>::<project>::<type>::<name>`), as the runbook does.
    return {urn.replace("::pulumi:pulumi:Stack$", "::") for urn in run_program(build).exports["urns"]}


def test_step_3_targets_the_component_and_all_its_children():
    urns = repository_urns()
    assert "urn:pulumi:test::soundbite::soundbite:infra:ImageRepository::image" in urns
    assert len(urns) == 3
    assert sorted(targeted_urns()) == sorted(urns)


def test_the_program_names_its_image_repository_image():
    source = (Path(__file__).resolve().parents[2] / "infra" / "__main__.py").read_text()
    assert 'ImageRepository("image",' in source
