"""What every benchmark's command line shares: options, progress on stderr, output on stdout."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from soundbite.console import console

stderr = console(stderr=True)


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    p.add_argument("--short", action="store_true", help="a quick smoke run (CI), not for numbers")
    p.add_argument("--runs", type=int, default=None, help="repetitions; the median is reported")
    return p


def progress() -> Progress:
    """A rich progress display on stderr, so stdout stays clean for --json."""
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                    TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                    console=stderr, transient=False)


def emit(result: dict, as_json: bool, render: Callable[[dict], str]) -> None:
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2, default=str) + "\n")
    else:
        sys.stdout.write(render(result) + "\n")


def positive_runs(value: int | None, short: bool, full: int) -> int:
    if value is None:
        return 1 if short else full
    if value < 1:
        raise SystemExit("--runs must be at least 1")
    return value
