"""Serve MiniStack's ASGI app with hypercorn in this one process, bound to the address given.

Run by MiniStack's own interpreter (`python ministack_serve.py 127.0.0.1:PORT`), so it imports
nothing of SoundBite. hypercorn's own command would fork a worker, and a frozen parent would
then leave the server answering.

One correction to MiniStack (1.5.33): it evaluates a metric alarm over every series with the
alarm's namespace and metric name, whatever their dimensions. CloudWatch evaluates only the
series whose dimensions are the alarm's. Both stacks publish `TargetResponseTime`, so without
the correction a slow canary would also put the baseline's p95 alarm in ALARM (and a slow
baseline the canary's), and the judge would act on the wrong stack.

MiniStack also drops `EvaluateLowSampleCountPercentile`; this keeps it, and an alarm set to
`ignore` keeps its state while its window holds fewer than 10/(1-p) samples per period, as
CloudWatch does.

One addition: MiniStack keeps no metric-math alarm (`Metrics`) and so never evaluates the
spec's error-rate alarms. This keeps each alarm's queries and evaluates them the way MiniStack
evaluates a single-metric alarm, over the alarm's whole window (period x evaluation periods):
each `MetricStat` is its statistic over the points with exactly its dimensions, and the
expressions are CloudWatch's arithmetic, comparisons, `FILL` and `IF`.
"""

import ast
import asyncio
import operator
import sys
import threading
import time

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


def _too_few_samples(alarm):
    """CloudWatch's low-sample rule for a percentile alarm set to `ignore`."""
    stat = alarm.get("ExtendedStatistic") or ""
    if alarm.get("EvaluateLowSampleCountPercentile") != "ignore" or not cloudwatch._is_percentile_stat(stat):
        return False
    fraction = float(stat[1:]) / 100
    needed = 10 / (1 - fraction) if fraction >= 0.5 else 10 / fraction
    periods = alarm.get("EvaluationPeriods", 1)
    since = time.time() - alarm.get("Period", 60) * periods
    wanted = cloudwatch._dims_key(cloudwatch._dims_from_list(alarm.get("Dimensions") or []))
    samples = sum(cloudwatch._point_stats(p)[0]
                  for (ns, name, dims), pts in cloudwatch._metrics.items()
                  if (ns, name, dims) == (alarm.get("Namespace"), alarm.get("MetricName"), wanted)
                  for p in pts if p["Timestamp"] >= since)
    return samples < needed * periods


def _evaluate_alarm(alarm):
    if alarm.get("Metrics"):
        _evaluate_math_alarm(alarm)
        return
    if _too_few_samples(alarm):
        return
    _evaluating.dimensions = cloudwatch._dims_key(
        cloudwatch._dims_from_list(alarm.get("Dimensions") or []))
    try:
        _evaluate_any_dimensions(alarm)
    finally:
        _evaluating.dimensions = None


_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
              ast.Div: lambda a, b: a / b if b else None, ast.Gt: operator.gt,
              ast.GtE: operator.ge, ast.Lt: operator.lt, ast.LtE: operator.le,
              ast.Eq: operator.eq, ast.NotEq: operator.ne}


def _expression(text, values):
    """One metric-math expression over scalars (None: no data), or None."""

    def ev(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.Name):
            return values.get(node.id)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            inner = ev(node.operand)
            return None if inner is None else -inner
        if isinstance(node, (ast.BinOp, ast.Compare)):
            left = ev(node.left)
            op, right = ((node.op, ev(node.right)) if isinstance(node, ast.BinOp)
                         else (node.ops[0], ev(node.comparators[0])))
            if left is None or right is None:
                return None
            found = _OPERATORS[type(op)](left, right)
            return None if found is None else float(found)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            name, args = node.func.id.upper(), node.args
            if name == "FILL":
                found = ev(args[0])
                return ev(args[1]) if found is None else found
            if name == "IF":
                test = ev(args[0])
                return None if test is None else ev(args[1] if test else args[2])
        raise ValueError(f"unsupported metric math: {text}")

    return ev(ast.parse(text, mode="eval").body)


def _stat(metric_stat, since):
    metric = metric_stat.get("Metric") or {}
    wanted = cloudwatch._dims_key(cloudwatch._dims_from_list(metric.get("Dimensions") or []))
    points = [p for (ns, name, dims), pts in cloudwatch._metrics.items()
              if (ns, name, dims) == (metric.get("Namespace"), metric.get("MetricName"), wanted)
              for p in pts if p["Timestamp"] >= since]
    stat = metric_stat.get("Stat", "Average")
    return cloudwatch._stat_value(cloudwatch._calc_stats(points), stat, points) if points else None


def _math_value(alarm):
    """The alarm's returned expression over its window, or None without data."""
    since = time.time() - alarm.get("Period", 60) * alarm.get("EvaluationPeriods", 1)
    values, returned = {}, None
    for query in alarm["Metrics"]:
        if query.get("MetricStat"):
            values[query["Id"]] = _stat(query["MetricStat"], since)
        else:
            values[query["Id"]] = _expression(query["Expression"], values)
        if str(query.get("ReturnData", True)).lower() != "false":
            returned = values[query["Id"]]
    return returned


def _evaluate_math_alarm(alarm):
    value = _math_value(alarm)
    if value is None:
        return
    threshold, op = alarm.get("Threshold", 0), alarm.get("ComparisonOperator", "")
    compare = {"GreaterThanOrEqualToThreshold": operator.ge, "GreaterThanThreshold": operator.gt,
               "LessThanThreshold": operator.lt, "LessThanOrEqualToThreshold": operator.le}
    new_state = "ALARM" if compare.get(op, lambda *_: False)(value, threshold) else "OK"
    old_state = alarm["StateValue"]
    if old_state != new_state:
        reason = f"Threshold Crossed: metric math {value} {op} {threshold}"
        alarm.update(StateValue=new_state, StateReason=reason,
                     StateUpdatedTimestamp=int(time.time()))
        cloudwatch._record_history(alarm["AlarmName"], old_state, new_state, reason)
        cloudwatch._dispatch_alarm_actions(alarm, old_state, new_state, reason)
        cloudwatch._evaluate_parent_alarms(alarm)


_put_single_metric_alarm = cloudwatch._put_metric_alarm


def _put_metric_alarm(params, cbor_data, is_cbor, is_json=False):
    """MiniStack's PutMetricAlarm, keeping a metric-math alarm's queries and a percentile
    alarm's low-sample rule, sent as JSON or CBOR (boto3's protocols for CloudWatch; the query
    protocol's stay as MiniStack keeps them)."""
    answer = _put_single_metric_alarm(params, cbor_data, is_cbor, is_json)
    kept = {key: cbor_data[key] for key in ("Metrics", "EvaluateLowSampleCountPercentile")
            if (is_cbor or is_json) and cbor_data.get(key)}
    alarm = cloudwatch._alarms.get(cbor_data.get("AlarmName")) if kept else None
    if alarm is not None:
        alarm.update(kept)
        _evaluate_alarm(alarm)
    return answer


cloudwatch._metrics = _DimensionScopedMetrics()  # empty: nothing has been stored yet
cloudwatch._evaluate_alarm = _evaluate_alarm
cloudwatch._put_metric_alarm = _put_metric_alarm

config = Config()
config.bind = [sys.argv[1]]
config.keep_alive_timeout = 75
config.loglevel = "WARNING"
asyncio.run(serve(app, config))
