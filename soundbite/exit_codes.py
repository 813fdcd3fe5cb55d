"""Exit codes of every `soundbite` command, defined once (`migrate` uses all of them,
`dlq` uses error and refused).

| code | meaning |
|---|---|
| 0 | success: promoted, nothing to do, check passed, rolled back by request |
| 1 | error: an AWS or Pulumi call failed; no traffic is on Fargate unjudged (the message says where it is) |
| 2 | usage error: bad option, invalid plan or target file (the field is named) |
| 3 | rolled back: the judge failed the canary (or could not measure it) and traffic went back to EC2 |
| 4 | held: inconclusive, soft failure, or an approval gate; a person decides next |
| 5 | refused: preflight failed, the lock is held, live weights drifted, or the migration is aborted |
| 6 | stood down: an operator or another run took over mid-step; this run touched nothing after that |
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
