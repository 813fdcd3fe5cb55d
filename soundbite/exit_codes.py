"""Exit codes of every `soundbite` command, defined once (`migrate` uses all but 7,
`dlq` error and refused, `rehearse` usage, broken and interrupted).

| code | meaning |
|---|---|
| 0 | success: promoted, nothing to do, check passed, rolled back by request |
| 1 | error: an AWS or Pulumi call failed; no traffic is on Fargate unjudged (the message says where it is) |
| 2 | usage error: bad option, invalid plan or target file (the field is named) |
| 3 | rolled back: the judge failed the canary (or could not measure it) and traffic went back to EC2 |
| 4 | held: inconclusive, soft failure, or an approval gate; a person decides next |
| 5 | refused: preflight failed, the lock is held, live weights drifted, the migration is aborted, or a confirmation was not given ("no", or no terminal and no `--yes`) |
| 6 | stood down: an operator or another run took over mid-step; this run touched nothing after that |
| 7 | broken: a rehearsal ended with an invariant broken (the toolkit failed its own check) |
| 130 | interrupted by Ctrl-C or SIGTERM: `rehearse` stopped everything it started; `migrate advance/shift/run/resume` held a step that had traffic on Fargate with that reason and released the lock (`resume` judges on) |
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    ROLLED_BACK = 3
    HELD = 4
    REFUSED = 5
    STOOD_DOWN = 6
    BROKEN = 7
    INTERRUPTED = 130
