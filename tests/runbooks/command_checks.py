"""Check one runbook command against the code it drives: the `soundbite` click CLI, the
config keys and outputs of the Pulumi program, and botocore's model of the `aws` CLI.

Each checker takes an argument list (placeholders already filled with the README's example
values) and returns the problems it found, as sentences; an empty list means the command
would be understood by the tool it names.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path

import click
import yaml

from infra import config as program_config
from soundbite.cli import main as soundbite_main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_STACK_FILE = ROOT / "Pulumi.dev.yaml"

# Shell helpers a runbook may use around the three tools; anything else is unknown.
SHELL_HELPERS = frozenset({"export", "source", ".", "jq", "curl", "cat", "cp"})

# The pulumi CLI is not installed where the tests run, so its verbs are listed here; the
# config keys and stack outputs they touch are checked against the program itself.
PULUMI_VERBS = {("config", "set"): 1, ("config", "get"): 0, ("config", "rm"): 0, ("up",): 0,
                ("preview",): 0, ("refresh",): 0, ("stack", "output"): 1, ("stack", "init"): 0,
                ("login",): 0}
PULUMI_FLAGS = {"--stack": True, "-s": True, "--yes": False, "-y": False, "--diff": False,
                "--skip-preview": False, "--json": False, "--refresh": False, "--target": True,
                "--secrets-provider": True}
STACKLESS_VERBS = {("login",), ("stack", "init")}  # these name no existing stack
PROVIDER_KEYS = {"aws:region"}
AWS_GLOBAL_OPTIONS = frozenset({"--query", "--output", "--region", "--profile", "--endpoint-url",
                                "--no-cli-pager", "--cli-input-json", "--debug"})


# --- soundbite -----------------------------------------------------------------------------


def _options(command: click.Command) -> dict[str, bool]:
    """Every option string of a command -> whether it takes a value."""
    table = {"--help": False}
    for param in command.params:
        if isinstance(param, click.Option):
            takes_value = not (param.is_flag or param.count)
            for name in (*param.opts, *param.secondary_opts):
                table[name] = takes_value and name not in param.secondary_opts
    return table


def _unknown_options(command: click.Command, path: str, args: list[str]) -> list[str]:
    known, problems, skip = _options(command), [], False
    for token in args:
        if skip:
            skip = False
            continue
        if not token.startswith("-") or token == "-" or token.lstrip("-").replace(".", "").isdigit():
            continue
        name, has_value = token.split("=", 1)[0], "=" in token
        if name not in known:
            problems.append(f"`{path}` has no option {name}")
        else:
            skip = known[name] and not has_value
    return problems


def _rest(ctx: click.Context) -> list[str]:
    # click keeps the subcommand name apart from its arguments (a private field since 8.2).
    return [*getattr(ctx, "_protected_args", []), *ctx.args]


def check_soundbite(argv: list[str]) -> list[str]:
    """Subcommands exist, every option exists on the command it is given to, and the whole
    line parses strictly (types, choices, required options) as click would at run time."""
    problems: list[str] = []
    command, args, path, parent = soundbite_main, argv[1:], "soundbite", None
    while isinstance(command, click.Group):
        ctx = command.make_context(path.split()[-1], list(args), parent=parent, resilient_parsing=True)
        rest = _rest(ctx)
        problems += _unknown_options(command, path, args[:len(args) - len(rest)])
        if not rest or rest[0].startswith("-"):
            return problems + [f"`{path}` needs a subcommand"]
        sub = command.get_command(ctx, rest[0])
        if sub is None:
            return problems + [f"`{path}` has no subcommand {rest[0]!r}"]
        command, args, path, parent = sub, rest[1:], f"{path} {rest[0]}", ctx
    problems += _unknown_options(command, path, args)
    if problems or "--help" in args:
        return problems
    return _strict_parse(argv)


def _strict_parse(argv: list[str]) -> list[str]:
    try:
        with soundbite_main.make_context("soundbite", argv[1:]) as ctx:
            command, rest = soundbite_main, _rest(ctx)
            while isinstance(command, click.Group):
                name, command, args = command.resolve_command(ctx, rest)
                ctx = command.make_context(name, args, parent=ctx)
                rest = _rest(ctx)
    except click.UsageError as exc:
        return [f"`{' '.join(argv)}` does not parse: {exc.format_message()}"]
    return []


# --- pulumi ---------------------------------------------------------------------------------


@cache
def example_config() -> dict[str, str]:
    """The example stack's `soundbite:` config as the raw strings `pulumi config` stores."""
    data = yaml.safe_load(EXAMPLE_STACK_FILE.read_text())["config"]
    prefix = f"{program_config.NAMESPACE}:"
    return {k.removeprefix(prefix): v if isinstance(v, str) else json.dumps(v)
            for k, v in data.items() if k.startswith(prefix)}


@cache
def program_run():
    """The program built under recording mocks for a phase where everything exists."""
    from tests.infra.pulumi_mocks import program_for

    return program_for("shift-25", redis="true")


def stack_outputs() -> set[str]:
    return set(program_run().exports)


def physical_names() -> set[str]:
    """Every `soundbite-dev-...` name the program exports (alarms, dashboard, queues, ...)."""
    names: set[str] = set()
    for value in program_run().exports.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and item.startswith("soundbite-dev-"):
                names.add(item)
    return names


def _config_value_problem(key: str, value: str) -> str | None:
    values = {**example_config(), key: value}
    try:
        program_config.from_values(values, "us-east-1")
    except program_config.ConfigError as exc:
        return f"the program refuses {program_config.NAMESPACE}:{key}={value}: {exc}"
    return None


def check_pulumi(argv: list[str]) -> list[str]:
    args = argv[1:]
    verb = next((v for v in PULUMI_VERBS if tuple(args[:len(v)]) == v), None)
    if verb is None:
        return [f"`pulumi {' '.join(args[:2])}` is not a pulumi command the runbooks may use"]
    positional, problems, i, rest = [], [], 0, args[len(verb):]
    while i < len(rest):
        token = rest[i]
        if token.startswith("-"):
            name = token.split("=", 1)[0]
            if name not in PULUMI_FLAGS:
                problems.append(f"`pulumi {' '.join(verb)}` is not given {name} in the runbooks")
            i += 2 if PULUMI_FLAGS.get(name) and "=" not in token else 1
            continue
        positional.append(token)
        i += 1
    if "--stack" not in rest and "-s" not in rest and verb not in STACKLESS_VERBS:
        problems.append(f"`pulumi {' '.join(verb)}` without --stack acts on whatever stack is selected")
    if verb[0] == "config":
        if not positional:
            return problems + ["`pulumi config` needs a key"]
        namespace, _, key = positional[0].partition(":")
        if positional[0] in PROVIDER_KEYS:
            return problems
        if namespace != program_config.NAMESPACE or key not in program_config.KEYS:
            problems.append(f"the program does not read config key {positional[0]}")
        elif verb == ("config", "set"):
            if len(positional) != 2:
                problems.append(f"`pulumi config set {positional[0]}` needs exactly one value")
            elif (problem := _config_value_problem(key, positional[1])) is not None:
                problems.append(problem)
    if verb == ("stack", "output") and (len(positional) != 1 or positional[0] not in stack_outputs()):
        problems.append(f"the program exports no stack output {' '.join(positional) or '(none named)'}")
    return problems


# --- aws ------------------------------------------------------------------------------------


@cache
def _botocore():
    import botocore.session

    return botocore.session.get_session()


def check_aws(argv: list[str]) -> list[str]:
    from botocore import xform_name

    if len(argv) < 3:
        return [f"`{' '.join(argv)}` names no service and operation"]
    session, service, operation = _botocore(), argv[1], argv[2]
    if service not in session.get_available_services():
        return [f"aws has no service {service!r}"]
    model = session.get_service_model(service)
    operations = {xform_name(name, "-"): name for name in model.operation_names}
    if operation not in operations:
        return [f"aws {service} has no operation {operation!r}"]
    shape = model.operation_model(operations[operation]).input_shape
    members = {f"--{xform_name(m, '-')}" for m in (shape.members if shape else {})}
    return [f"aws {service} {operation} has no option {token}"
            for token in argv[3:] if token.startswith("--")
            and token.split("=", 1)[0] not in members | AWS_GLOBAL_OPTIONS]


# --- dispatch -------------------------------------------------------------------------------


def _check_helper(argv: list[str]) -> list[str]:
    if argv[0] == "export" and not all("=" in a for a in argv[1:]):
        return [f"`{' '.join(argv)}`: export takes NAME=value"]
    return []


CHECKERS: dict[str, Callable[[list[str]], list[str]]] = {
    "soundbite": check_soundbite, "pulumi": check_pulumi, "aws": check_aws,
    **{helper: _check_helper for helper in SHELL_HELPERS},
}


def check_command(argv: list[str]) -> list[str]:
    """Problems with one simple command, whatever program it runs."""
    checker = CHECKERS.get(argv[0])
    if checker is None:
        return [f"`{argv[0]}` is not a command the runbook tests know (soundbite, pulumi, aws, "
                f"{', '.join(sorted(SHELL_HELPERS))})"]
    return checker(argv)
