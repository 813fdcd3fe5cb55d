"""A SoundBite API per lane on a real socket, speaking the service's HTTP contract (create,
status, audio redirect to a signed object) with real WAV audio, for synthetic transactions.

Each lane's `Lane` says how it behaves: how many status polls before ready, whether the
soundbite fails, the audio's length, audio that does not decode, a bearer token it requires."""

from __future__ import annotations

import io
import json
import math
import threading
import uuid
import wave
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from .conftest import EC2, FARGATE

RATE = 16000


def wav(seconds: float) -> bytes:
    frames = int(RATE * seconds)
    pcm = b"".join(int(8000 * math.sin(2 * math.pi * 440 * i / RATE)).to_bytes(2, "little", signed=True)
                   for i in range(frames))
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm)
    return out.getvalue()


@dataclass
class Lane:
    polls_before_ready: int = 1
    fail: bool = False
    create_status: int = 202
    audio_seconds: float = 1.5
    corrupt_audio: bool = False
    token: str | None = None
    """When set, every API call needs `Authorization: Bearer <token>` (the object does not)."""
    created: list[dict] = field(default_factory=list)
    polls: dict[str, int] = field(default_factory=dict)
    object_auth: list[str | None] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


class _Api(BaseHTTPRequestHandler):
    def _lane(self) -> Lane:
        return self.server.lane

    def _send(self, status: int, body: dict | bytes | None = None, headers: dict | None = None):
        data = body if isinstance(body, bytes) else json.dumps(body or {}).encode()
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        lane = self._lane()
        if lane.token and self.headers.get("Authorization") != f"Bearer {lane.token}":
            self._send(401, {"title": "Unauthorized", "status": 401})
            return False
        return True

    def do_POST(self):  # noqa: N802 - the handler's protocol name
        lane = self._lane()
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if not self._authorized():
            return
        if lane.create_status != 202:
            self._send(lane.create_status, {"title": "Service Unavailable", "status": lane.create_status})
            return
        sid = uuid.uuid4().hex
        lane.created.append({"id": sid, "body": body, "user": self.headers.get("X-User-Id"),
                             "key": self.headers.get("Idempotency-Key"),
                             "auth": self.headers.get("Authorization")})
        lane.polls[sid] = 0
        self._send(202, {"id": sid, "status": "pending"}, {"Location": f"/v1/soundbites/{sid}"})

    def do_GET(self):  # noqa: N802
        lane, parts = self._lane(), self.path.strip("/").split("/")
        if parts[0] == "objects":  # the signed object: no bearer token expected
            lane.object_auth.append(self.headers.get("Authorization"))
            self._send(200, b"not audio at all" if lane.corrupt_audio else wav(lane.audio_seconds))
            return
        if not self._authorized():
            return
        sid = parts[2] if len(parts) > 2 else ""
        if sid not in lane.polls:
            self._send(404, {"title": "Not Found", "status": 404})
            return
        if len(parts) == 4 and parts[3] == "audio":
            self._send(302, None, {"Location": f"/objects/{sid}.wav?X-Amz-Signature=x"})
            return
        lane.polls[sid] += 1
        status = "pending" if lane.polls[sid] <= lane.polls_before_ready else (
            "failed" if lane.fail else "ready")
        body = {"id": sid, "status": status}
        if status == "failed":
            body["failure_reason"] = "synthesis failed"
        self._send(200, body)

    def log_message(self, *args):
        pass


@pytest.fixture(name="soundbite_lanes")
def soundbite_lanes_fixture():
    """Both lanes' APIs; change a lane's attributes to change how it behaves."""
    lanes = {}
    for name in (EC2, FARGATE):
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
        server.lane = Lane()
        server.lane.server = server
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        lanes[name] = server.lane
    yield lanes
    for lane in lanes.values():
        lane.server.shutdown()
        lane.server.server_close()
