"""Every benchmark in turn, one JSON document (or the markdown tables) for all of them.

    python -m bench.run_all [--json] [--short] [--runs N] [--only api,worker,judge,rehearsal]

A benchmark that fails is reported with its error and the others still run; the exit code
is 1 when any failed.
"""

from __future__ import annotations

import sys
import time
import traceback

from bench import api, cli, judge, machine, rehearsal, worker

BENCHMARKS = {"api": api, "worker": worker, "judge": judge, "rehearsal": rehearsal}


def run(short: bool, runs: int | None, only: tuple[str, ...]) -> dict:
    result = {"machine": machine.describe(), "short": short, "benchmarks": {}}
    for name in only:
        started = time.monotonic()
        cli.stderr.rule(f"bench: {name}")
        try:
            found = BENCHMARKS[name].run(short=short, runs=runs)
        except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the rest
            cli.stderr.print(traceback.format_exc())
            found = {"benchmark": name, "error": f"{type(exc).__name__}: {exc}"}
        found["wall_seconds"] = round(time.monotonic() - started, 1)
        result["benchmarks"][name] = found
    return result


def markdown(result: dict) -> str:
    parts = [f"Machine: {machine.one_line(result['machine'])}."]
    for name, found in result["benchmarks"].items():
        body = f"failed: {found['error']}" if "error" in found else BENCHMARKS[name].markdown(found)
        parts.append(f"### {name}\n\n{body}")
    return "\n\n".join(parts)


def main(argv: list[str] | None = None) -> None:
    p = cli.parser("Run every SoundBite benchmark.")
    p.add_argument("--only", help="comma-separated subset of: " + ", ".join(BENCHMARKS))
    args = p.parse_args(argv)
    only = tuple(args.only.split(",")) if args.only else tuple(BENCHMARKS)
    unknown = [n for n in only if n not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    result = run(args.short, args.runs, only)
    cli.emit(result, args.json, markdown)
    sys.exit(1 if any("error" in b for b in result["benchmarks"].values()) else 0)


if __name__ == "__main__":
    main()
