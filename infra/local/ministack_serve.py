"""Serve MiniStack's ASGI app with hypercorn in this one process, bound to the address given.

Run by MiniStack's own interpreter (`python ministack_serve.py 127.0.0.1:PORT`), so it imports
nothing of SoundBite. hypercorn's own command would fork a worker, and a frozen parent would
then leave the server answering.

One correction to MiniStack (1.5.33): it evaluates a metric alarm over every series with the
alarm's namespace and metric name, whatever their dimensions. CloudWatch evaluates only the
series whose dimensions are the alarm's. Both stacks publish `TargetResponseTime`, so without
the correction a slow canary would also put the baseline's p95 alarm in ALARM (and a slow
baseline the canary's), and the judge would act on the wrong stack.
"""

import asyncio
import sys
import threading

from hypercorn.asyncio import serve
from hypercorn.config import Config
from ministack.app import app
from ministack.services import cloudwatch

_evaluating = threading.local()
"""The dimensions key of the alarm this thread is evaluating, if any."""


class _DimensionScopedMetrics(type(cloudwatch._metrics)):
    """MiniStack's metric store; while a thread evaluates an alarm, it lists to that thread only
    the series with the alarm's dimensions (every other reader, and every other thread, sees
    all of them)."""

    __slots__ = ()

    def items(self):
        pairs = super().items()
        wanted = getattr(_evaluating, "dimensions", None)
        return pairs if wanted is None else [(k, v) for k, v in pairs if k[2] == wanted]


_evaluate_any_dimensions = cloudwatch._evaluate_alarm


def _evaluate_alarm(alarm):
    _evaluating.dimensions = cloudwatch._dims_key(
        cloudwatch._dims_from_list(alarm.get("Dimensions") or []))
    try:
        _evaluate_any_dimensions(alarm)
    finally:
        _evaluating.dimensions = None


cloudwatch._metrics = _DimensionScopedMetrics()  # empty: nothing has been stored yet
cloudwatch._evaluate_alarm = _evaluate_alarm

config = Config()
config.bind = [sys.argv[1]]
config.keep_alive_timeout = 75
config.loglevel = "WARNING"
asyncio.run(serve(app, config))
