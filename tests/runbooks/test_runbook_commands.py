"""Every command in the runbooks matches the code it drives; placeholders use one syntax.

A runbook command that drifts from the `soundbite` CLI, the Pulumi program's config keys and
outputs, or the AWS API fails here, with the file and line of the block.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from infra import phases
from migration.judge import JudgeConfig
from migration.target import load_target
from soundbite import spec
from tests.runbooks import command_checks as checks
from tests.runbooks import runbook_text as rb

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pulumi_aws, building the program

EXPECTED_RUNBOOKS = {"README.md", "migration.md", "rollback.md", "dlq.md", "alarms.md", "rehearsal.md"}
EXAMPLES = rb.readme_placeholders()
PHYSICAL_NAME = re.compile(r"soundbite-<ENVIRONMENT>-[a-z0-9-]*[a-z0-9]")


def problems_in_block(block: rb.Block, examples: dict[str, str] = EXAMPLES) -> list[str]:
    """Every problem with the commands of one block, as `file:line: problem`."""
    found = []
    for line in rb.command_lines(block):
        for argv in rb.simple_commands(rb.fill(line, examples)):
            found += [f"{block.where}: {p}" for p in checks.check_command(argv)]
    return found


def problems_in(paths: list[Path]) -> list[str]:
    return [p for block in rb.shell_blocks(paths) for p in problems_in_block(block)]


def _blocks(language: str | None = None, mark: str | None = None) -> list[rb.Block]:
    return [b for p in rb.runbook_files() for b in rb.blocks(p)
            if (language is None or b.language == language) and (mark is None or b.mark == mark)]


def test_every_runbook_is_there():
    assert {p.name for p in rb.runbook_files()} == EXPECTED_RUNBOOKS


@pytest.mark.parametrize("block", rb.shell_blocks(), ids=lambda b: b.where)
def test_every_command_in_every_block_matches_the_code(block):
    assert rb.command_lines(block), "an empty command block"
    assert problems_in_block(block) == []


@pytest.mark.parametrize("block", _blocks(), ids=lambda b: b.where)
def test_placeholders_use_the_one_documented_syntax(block):
    assert rb.suspect_placeholders(block.text) == []


def test_every_placeholder_is_documented_in_the_readme_and_every_documented_one_is_used():
    used = set().union(*(rb.placeholders(p.read_text()) for p in rb.runbook_files()
                         if p.name != "README.md"))
    assert used - set(EXAMPLES) == set(), "undocumented placeholders"
    assert set(EXAMPLES) - used == set(), "documented placeholders no runbook uses"


def test_the_examples_in_the_placeholder_table_are_not_placeholders_themselves():
    assert all(not rb.placeholders(v) and not rb.suspect_placeholders(v) for v in EXAMPLES.values())


def test_every_resource_name_in_the_runbooks_is_one_the_program_creates():
    named = {m.replace("<ENVIRONMENT>", "dev") for p in rb.runbook_files()
             for m in PHYSICAL_NAME.findall(p.read_text())}
    assert named, "the runbooks name no resources?"
    assert named - checks.physical_names() == set()


def test_alarms_md_covers_every_alarm_of_the_program():
    text = (rb.RUNBOOKS / "alarms.md").read_text().replace("<ENVIRONMENT>", "dev")
    alarms = checks.program_run().exports["alarmNames"]
    assert len(alarms) == 7
    assert [a for a in alarms if f"## `{a}`" not in text and f"/ `{a}`" not in text] == []


def test_migration_dashboard_is_the_one_the_program_exports():
    dashboard = checks.program_run().exports["dashboardName"]
    assert dashboard.replace("soundbite-dev-", "soundbite-<ENVIRONMENT>-") in (
        rb.RUNBOOKS / "migration.md").read_text()


def _table_rows(text: str, first_cell: re.Pattern) -> list[list[str]]:
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in text.splitlines()
            if line.startswith("|")]
    return [r for r in rows if first_cell.fullmatch(r[0])]


def test_the_phase_table_in_migration_md_is_the_programs_phase_table():
    rows = _table_rows((rb.RUNBOOKS / "migration.md").read_text(), re.compile(r"`[a-z0-9-]+`"))
    documented = {r[0].strip("`"): (r[2], r[3]) for r in rows}

    def weight(phase: phases.Phase, stack: str) -> str:
        return str(phase.weights[stack]) if stack in phase.weights else "none"

    assert documented == {p.name: (weight(p, phases.EC2), weight(p, phases.FARGATE))
                          for p in phases.build_phases()}


def test_the_go_no_go_numbers_are_the_specs():
    text = (rb.RUNBOOKS / "migration.md").read_text()
    a = spec.ALARMS
    for number in (f"{a.error_rate * 100:g} %", f"{a.p95_latency_ms:g} ms", f"below {a.queue_depth} ",
                   f"{a.oldest_message_seconds // spec.MINUTE} min", f"{JudgeConfig().p95_ratio_limit:g} times",
                   f"soaks {spec.DEFAULT_SOAK_SECONDS // spec.MINUTE} minutes",
                   f"DNS TTL ({spec.DNS_RECORD_TTL_SECONDS} s)", f"metric lag ({spec.METRIC_LAG_SECONDS} s)"):
        assert number in text, number


def test_the_target_file_in_migration_md_loads_as_a_migrate_target(tmp_path):
    [block] = _blocks("yaml", "target-file")
    path = tmp_path / "target.yaml"
    path.write_text(rb.fill(block.text, EXAMPLES))
    target = load_target(str(path))
    assert (target.metrics, set(target.target_groups), set(target.direct_urls)) == (
        "alb", set(spec.STACKS), set(spec.STACKS))
    assert yaml.safe_load(path.read_text())["stack"] == EXAMPLES["<STACK>"]


def test_the_raw_route53_change_batch_is_valid_and_puts_everything_on_ec2():
    import botocore.session
    from botocore.validate import validate_parameters

    [block] = _blocks("json", "change-batch")
    batch = json.loads(rb.fill(block.text, EXAMPLES))
    model = botocore.session.get_session().get_service_model("route53")
    shape = model.operation_model("ChangeResourceRecordSets").input_shape
    validate_parameters({"HostedZoneId": EXAMPLES["<ZONE_ID>"], "ChangeBatch": batch}, shape)
    changes = batch["Changes"]
    assert {c["Action"] for c in changes} == {"UPSERT"}
    assert {c["ResourceRecordSet"]["SetIdentifier"]: c["ResourceRecordSet"]["Weight"] for c in changes} == {
        phases.EC2: 100, phases.FARGATE: 0}


def test_the_executable_blocks_are_marked():
    rollback = rb.marked_commands("rollback")
    assert any(c.startswith("soundbite migrate rollback ") for c in rollback)
    assert any(c.startswith("soundbite migrate status ") for c in rollback)
    dlq = rb.marked_commands("dlq")
    assert any("redrive --dry-run" in c for c in dlq) and any("redrive --yes" in c for c in dlq)


# --- the checker catches drift (it can fail) -------------------------------------------------


@pytest.mark.parametrize("command, problem", [
    ("soundbite migrate rollback --config x.yaml --bogus", "no option --bogus"),
    ("soundbite migrate rewind --config x.yaml", "no subcommand 'rewind'"),
    ("soundbite dlq inspect --dry-run", "`soundbite dlq inspect` has no option --dry-run"),
    ("soundbite migrate advance --via ftp", "does not parse"),
    ("soundbite migrate shift --config x.yaml --yes", "does not parse"),
    ("soundbite migrate", "needs a subcommand"),
    ("soundbite migrate status extra", "unexpected extra argument"),
    ("pulumi config set soundbite:migrationPhaze shift-5 --stack prod", "does not read config key"),
    ("pulumi config set soundbite:migrationPhase shift-30 --stack prod", "refuses"),
    ("pulumi config set aws:profile x --stack prod", "does not read config key"),
    ("pulumi up", "without --stack"),
    ("pulumi destroy --stack prod", "not a pulumi command"),
    ("pulumi stack output queueURL --stack prod", "no stack output queueURL"),
    ("aws route54 list-hosted-zones", "no service 'route54'"),
    ("aws route53 change-weights --hosted-zone-id Z1", "no operation 'change-weights'"),
    ("aws sqs get-queue-attributes --queue-url u --attribute-name All", "no option --attribute-name"),
    ("kubectl get pods", "not a command the runbook tests know"),
])
def test_the_checker_catches_a_command_that_drifted(command, problem):
    found = [p for argv in rb.simple_commands(command) for p in checks.check_command(argv)]
    assert any(problem in p for p in found), found


def test_a_runbook_with_a_renamed_option_fails_the_check(tmp_path):
    drifted = tmp_path / "rollback.md"
    drifted.write_text((rb.RUNBOOKS / "rollback.md").read_text().replace("--reason", "--why"))
    assert problems_in([rb.RUNBOOKS / "rollback.md"]) == []
    assert any("no option --why" in p for p in problems_in([drifted]))


@pytest.mark.parametrize("text", ["--stack <stack>", "--stack ${STACK}", "--stack {{stack}}",
                                  "--zone-id YOUR_ZONE", "--stack ...", "--zone-id XXXX"])
def test_other_placeholder_spellings_are_caught(text):
    assert rb.suspect_placeholders(text)


def test_simple_commands_split_pipes_chains_and_substitutions():
    line = 'export A=$(aws sqs get-queue-url --queue-name q) && soundbite migrate status --json | jq .x > out'
    assert rb.simple_commands(line) == [
        ["aws", "sqs", "get-queue-url", "--queue-name", "q"], ["export", "A=SUBSTITUTED"],
        ["soundbite", "migrate", "status", "--json"], ["jq", ".x"]]
