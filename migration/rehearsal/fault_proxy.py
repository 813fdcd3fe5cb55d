"""A small HTTP proxy in front of the emulator for one AWS service the engine process calls.

botocore honours per-service endpoints (`AWS_ENDPOINT_URL_CLOUDWATCH=...`), so the engine
process reaches CloudWatch, DynamoDB and Route 53 through one proxy each, and the rehearsal
switches a proxy to fail the way AWS fails: `throttle` (400 Throttling), `down` (503, or for
DynamoDB the table gone), or `slow` (Route 53 reports PENDING past the ledger's lease).
`on_change` runs after a Route 53 change reached the emulator and before its answer goes back,
so the rehearsal can kill the engine between the change and its ledger write.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

PASS, THROTTLE, DOWN, SLOW = "pass", "throttle", "down", "slow"
_CHANGE_ID = re.compile(rb"<Id>(/change/[^<]+)</Id>")
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}


class FaultProxy:
    """Forwards every request to `upstream` unless its `mode` says to fail."""

    def __init__(self, upstream: str, service: str, slow_seconds: float = 0.0) -> None:
        self.upstream = urlsplit(upstream)
        self.service = service
        self.mode = PASS
        self.slow_seconds = slow_seconds
        self.slow_changes = 0
        """How many more Route 53 changes report PENDING for `slow_seconds` (mode `slow`)."""
        self.on_change: Callable[[], bool] | None = None
        """Called after a change reached Route 53; True means the caller was killed: no answer."""
        self.failed = 0
        self.slowed = 0
        """Route 53 changes answered PENDING past their INSYNC (mode `slow`)."""
        self._pending: dict[bytes, float] = {}
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> str:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - the handler's protocol names
                proxy.handle(self)

            do_POST = do_PUT = do_DELETE = do_HEAD = do_GET  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.1,), daemon=True).start()
        return self.url

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def slow_next_change(self, seconds: float, changes: int = 1) -> None:
        self.slow_seconds, self.slow_changes, self.mode = seconds, changes, SLOW

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        if self.mode in (THROTTLE, DOWN):
            self.failed += 1
            self._fail(request)
            return
        status, headers, answer = self._forward(request, body)
        is_change = request.command == "POST" and request.path.rstrip("/").endswith("/rrset")
        if is_change and status < 300:
            answer = self._track_change(answer)
            if self.on_change is not None and self.on_change():
                request.close_connection = True
                return  # the engine is dead: nobody reads the answer
        elif request.command == "GET" and "/change/" in request.path:
            answer = self._maybe_pending(request.path, answer)
        self._reply(request, status, headers, answer)

    def _forward(self, request, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=30)
        try:
            headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
            headers["Host"] = self.upstream.netloc
            connection.request(request.command, request.path, body=body or None, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def _track_change(self, answer: bytes) -> bytes:
        if self.mode == SLOW and self.slow_changes > 0:
            found = _CHANGE_ID.search(answer)
            if found:
                self.slow_changes -= 1
                self.slowed += 1
                self._pending[found.group(1)] = time.monotonic() + self.slow_seconds
                return answer.replace(b"INSYNC", b"PENDING")
        return answer

    def _maybe_pending(self, path: str, answer: bytes) -> bytes:
        until = next((t for change, t in self._pending.items() if path.encode().endswith(change)), None)
        if until is not None and time.monotonic() < until:
            return answer.replace(b"INSYNC", b"PENDING")
        return answer

    def _fail(self, request: BaseHTTPRequestHandler) -> None:
        """Answer as the service would: its protocol's error shape, so botocore reads the code."""
        if self.service == "dynamodb":  # JSON protocol; a gone table is not retried
            status, code = 400, "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException"
            body = json.dumps({"__type": code, "message": "rehearsal: the ledger table is gone"}).encode()
            self._reply(request, status, [("Content-Type", "application/x-amz-json-1.0")], body)
            return
        code, fault, status = (("Throttling", "Sender", 400) if self.mode == THROTTLE
                               else ("ServiceUnavailable", "Receiver", 503))
        headers = [("x-amzn-query-error", f"{code};{fault}"), ("x-amzn-ErrorType", code)]
        sent = request.headers.get("Content-Type", "")
        if "cbor" in sent:
            headers += [("smithy-protocol", "rpc-v2-cbor"), ("Content-Type", "application/cbor")]
            body = b"\xa0"  # an empty CBOR map: the code travels in the header
        elif "json" in sent:
            headers.append(("Content-Type", sent))
            body = json.dumps({"__type": code, "message": "rehearsal fault"}).encode()
        else:  # the query protocol
            headers.append(("Content-Type", "text/xml"))
            body = (f"<ErrorResponse><Error><Type>{fault}</Type><Code>{code}</Code>"
                    "<Message>rehearsal fault</Message></Error></ErrorResponse>").encode()
        self._reply(request, status, headers, body)

    @staticmethod
    def _reply(request, status: int, headers, body: bytes) -> None:
        try:
            request.send_response(status)
            for key, value in headers:
                if key.lower() not in _HOP_HEADERS:
                    request.send_header(key, value)
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            request.wfile.write(body)
        except OSError:
            request.close_connection = True
