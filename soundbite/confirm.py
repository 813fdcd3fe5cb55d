"""The one confirmation every command asks before it moves traffic or messages.

`--yes` goes ahead. Otherwise a person answers on a terminal: "no" refuses with exit 5, and
Ctrl-C at the prompt exits 130. With no terminal to ask on (a pipe, cron, CI), nothing is
asked and the command refuses with exit 5: unattended runs say `--yes` explicitly.
"""

from __future__ import annotations

import json
import sys

import click

from soundbite.console import console
from soundbite.exit_codes import ExitCode

NO_TERMINAL = "no terminal to confirm on; pass --yes to go ahead unattended"


def interactive() -> bool:
    """Whether a person can answer: standard input is a terminal."""
    return sys.stdin.isatty()


def refuse(message: str, as_json: bool = False) -> None:
    """One line (or one JSON object) and exit 5."""
    if as_json:
        click.echo(json.dumps({"status": "error", "error": "refused", "message": message,
                               "exit_code": int(ExitCode.REFUSED)}))
    else:
        console(stderr=True).print(f"[bold red]refused:[/] {message}")
    sys.exit(int(ExitCode.REFUSED))


def confirm(question: str, yes: bool, as_json: bool = False, nothing: str = "nothing changed") -> None:
    """Return when confirmed; otherwise exit (5 refused, 130 interrupted)."""
    if yes:
        return
    if not interactive():
        refuse(f"{NO_TERMINAL}; {nothing}", as_json)
    try:
        agreed = click.confirm(question, default=False, err=True)
    except click.Abort:  # Ctrl-C (or end of input) at the prompt
        click.echo("", err=True)
        sys.exit(int(ExitCode.INTERRUPTED))
    if not agreed:
        refuse(f"not confirmed; {nothing}", as_json)
