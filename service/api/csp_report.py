"""`POST /api/csp-report`: browsers report CSP violations here; we log a bounded sample.

Both report formats are accepted: the classic `application/csp-report` body
(`{"csp-report": {...}}`) and the Reporting API's `application/reports+json` list. The
body is bounded, and log lines are capped per minute per process, so a page that
misbehaves in every browser at once cannot fill the logs; the cap's overflow is counted
and reported with the next line that gets through.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType

from service.api import telemetry
from soundbite import spec
from soundbite.core.exceptions import InvalidRequest

REPORT_TYPES = ("application/csp-report", "application/reports+json", "application/json")
LOG_LINES_PER_MINUTE = 10
KEPT_FIELDS = ("document-uri", "documentURL", "violated-directive", "effectiveDirective",
               "effective-directive", "blocked-uri", "blockedURL", "disposition",
               "source-file", "sourceFile", "line-number", "lineNumber")
bp = Blueprint("csp", __name__)
log = logging.getLogger("soundbite.csp")


class LogBudget:
    """At most `per_minute` lines a minute; tells the next admitted line how many it skipped."""

    def __init__(self, per_minute: int, now: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._now = now
        self._lock = threading.Lock()
        self._window = -1
        self._used = 0
        self._suppressed = 0

    def admit(self) -> int | None:
        """None when the budget is spent; otherwise how many lines were suppressed before."""
        with self._lock:
            window = int(self._now() // 60)
            if window != self._window:
                self._window, self._used = window, 0
            if self._used >= self.per_minute:
                self._suppressed += 1
                return None
            self._used += 1
            skipped, self._suppressed = self._suppressed, 0
            return skipped


def log_budget() -> LogBudget:
    """One budget per app (so per process under gunicorn)."""
    ext = current_app.extensions["soundbite"]
    if "csp_log_budget" not in ext:
        ext["csp_log_budget"] = LogBudget(LOG_LINES_PER_MINUTE)
    return ext["csp_log_budget"]


def _read_bounded() -> bytes:
    if (request.content_length or 0) > spec.CSP_REPORT_MAX_BYTES:
        raise RequestEntityTooLarge(f"a CSP report is at most {spec.CSP_REPORT_MAX_BYTES} bytes")
    data = request.stream.read(spec.CSP_REPORT_MAX_BYTES + 1)
    if len(data) > spec.CSP_REPORT_MAX_BYTES:
        raise RequestEntityTooLarge(f"a CSP report is at most {spec.CSP_REPORT_MAX_BYTES} bytes")
    return data


def violations(payload: object) -> list[dict]:
    """The violation bodies in either format, reduced to the fields worth logging."""
    if isinstance(payload, dict) and isinstance(payload.get("csp-report"), dict):
        bodies = [payload["csp-report"]]
    elif isinstance(payload, list):
        bodies = [r.get("body") for r in payload
                  if isinstance(r, dict) and r.get("type") == "csp-violation"]
    else:
        bodies = []
    return [{k: str(b[k])[:300] for k in KEPT_FIELDS if k in b}
            for b in bodies if isinstance(b, dict)]


@bp.post("/api/csp-report")
def csp_report():
    if request.mimetype not in REPORT_TYPES:
        raise UnsupportedMediaType("send application/csp-report or application/reports+json")
    try:
        payload = json.loads(_read_bounded())
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidRequest("the report is not valid JSON",
                             [{"pointer": "", "detail": "send the report the browser produced"}]) from exc
    found = violations(payload)
    if not found:
        raise InvalidRequest("no CSP violation in the report", [{
            "pointer": "", "detail": 'expected {"csp-report": {...}} or a list of csp-violation reports'}])
    telemetry.count("CspViolations", len(found))
    skipped = log_budget().admit()
    if skipped is not None:
        log.warning("csp violation", extra={"violations": found[:5], "suppressed_before": skipped})
    return Response(status=204)
