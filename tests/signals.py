"""Children that a test interrupts with Ctrl-C (SIGINT)."""

import signal


def interruptible() -> None:
    """`preexec_fn` for such a child: SIGINT reaches it as it would from a terminal, even when
    the test run was started as a background job, whose processes inherit SIGINT ignored (and
    Python then never raises KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
