"""Exit codes of every `soundbite` command, defined once (`migrate` uses all of them,
`dlq` uses error and refused).

| code | meaning |
|---|---|
| 0 | success: promoted, nothing to do, check passed |
| 1 | error: an AWS or Pulumi call failed unexpectedly |
| 2 | usage error: bad option, unreadable plan or config (click's own code) |
| 3 | rolled back: the judge failed the canary and traffic went back to EC2 |
| 4 | held: inconclusive, soft failure, or an approval gate; a person decides next |
| 5 | refused: preflight failed, the lock is held, or live weights drifted |
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
