"""The `soundbite` command: a click group whose subcommands load on first use.

Each package owns its commands (`service.cli`, `worker.cli`, `migration.cli`, ...); this
root only names them, so `soundbite --help` stays fast and packages stay independent.

The runtime install (`pip install soundbite`, what the image holds) has the API and worker
commands; the others need the `toolkit` extra and say so in one line when it is missing.
"""

from __future__ import annotations

import importlib
import importlib.util
import json

import click

from soundbite.exit_codes import ExitCode

COMMANDS: dict[str, tuple[str, str]] = {
    "api": ("service.cli:api", "Serve the API with gunicorn (what the image runs)."),
    "dev": ("infra.local.dev:dev", "Run the whole local stack on the embedded emulator."),
    "emulator": ("infra.local.cli:emulator", "Start and bootstrap the local AWS emulator."),
    "worker": ("worker.cli:worker", "Consume the jobs queue and synthesize speech."),
    "dlq": ("soundbite.dlq:dlq", "Inspect and redrive the dead-letter queue."),
    "migrate": ("migration.cli:migrate", "Move traffic between the EC2 and Fargate stacks."),
    "rehearse": ("migration.rehearsal.cli:rehearse", "Rehearse a whole migration locally."),
    "image": ("infra.image:image", "Build the runtime image and push it to the stack's ECR repository."),
}
# Top-level modules that only the `toolkit` extra installs.
TOOLKIT_MODULES = frozenset({"pulumi", "pulumi_aws", "moto", "matplotlib", "yaml", "pydantic", "scipy"})
# Commands that need toolkit modules even where they load them late (in a child process).
TOOLKIT_NEEDS = {"dev": ("moto",), "emulator": ("moto",), "rehearse": ("moto", "matplotlib"),
                 "migrate": ("yaml",)}
AS_JSON = "soundbite.as_json"
TOOLKIT_HINT = "`soundbite {name}` needs the toolkit: pip install 'soundbite[toolkit]'"


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        if any(importlib.util.find_spec(m) is None for m in TOOLKIT_NEEDS.get(cmd_name, ())):
            raise click.ClickException(TOOLKIT_HINT.format(name=cmd_name))
        module_name, attr = target[0].split(":")
        module = importlib.import_module(module_name)  # a missing module: `invoke` says which
        return getattr(module, attr)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[AS_JSON] = "--json" in args  # errors answer as JSON when the command was asked to
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context):
        """No command prints a traceback unless `--debug`: one line (JSON under `--json`), exit 1."""
        as_json = ctx.meta.get(AS_JSON, False)
        try:
            return super().invoke(ctx)
        except click.exceptions.Exit:
            raise
        except click.Abort:  # Ctrl-C at a prompt
            click.echo("", err=True)
            ctx.exit(int(ExitCode.INTERRUPTED))
        except KeyboardInterrupt:  # Ctrl-C in a command that does not catch it itself
            message = "interrupted: the command stopped where it was" + (
                "; `soundbite migrate status` shows where traffic is"
                if ctx.invoked_subcommand == "migrate" else "")
            click.echo(json.dumps({"status": "interrupted", "message": message,
                                   "exit_code": int(ExitCode.INTERRUPTED)}) if as_json
                       else message, err=not as_json)
            ctx.exit(int(ExitCode.INTERRUPTED))
        except click.ClickException as exc:
            if not as_json:
                raise
            click.echo(json.dumps({"status": "error", "error": "error",
                                   "message": exc.format_message(), "exit_code": exc.exit_code}))
            ctx.exit(exc.exit_code)
        except Exception as exc:  # noqa: BLE001 - the last line of defence for every command
            if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in TOOLKIT_MODULES:
                # A command may load the toolkit only when it runs (moto for `dev`, pulumi for `migrate`).
                hint = click.ClickException(TOOLKIT_HINT.format(name=ctx.invoked_subcommand or "this command"))
                if not as_json:
                    raise hint from exc
                click.echo(json.dumps({"status": "error", "error": "error", "message": hint.message,
                                       "exit_code": hint.exit_code}))
                ctx.exit(hint.exit_code)
            if (ctx.obj or {}).get("debug"):
                raise
            message = " ".join(str(exc).split()) or type(exc).__name__
            if as_json:
                click.echo(json.dumps({"status": "error", "error": type(exc).__name__,
                                       "message": message, "exit_code": int(ExitCode.ERROR)}))
            else:
                click.echo(f"error: {message} (--debug shows the trace)", err=True)
            ctx.exit(int(ExitCode.ERROR))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup)
@click.version_option(package_name="soundbite")
@click.option("--debug", is_flag=True, help="Show the full trace when a command fails.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """SoundBite: text to speech, and the toolkit that moves it from EC2 to ECS Fargate."""
    ctx.obj = {"debug": debug}


if __name__ == "__main__":
    main()
