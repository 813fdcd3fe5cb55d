"""The one way every command builds its terminal output.

On a terminal, rich wraps to its width as usual. Elsewhere (a pipe, a log file, CI) nothing
wraps: a line a person greps for stays one line, and a table is as wide as its content.
"""

from __future__ import annotations

import sys

from rich.console import Console

UNWRAPPED_WIDTH = 1000
"""The width a console takes when its stream is not a terminal (wide enough never to wrap)."""


def console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr, highlight=False)
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=UNWRAPPED_WIDTH)
