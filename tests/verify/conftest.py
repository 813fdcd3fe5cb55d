"""Fixtures for verification with outside tools: real gunicorn lanes on the emulator, an
emulator of a test's own (so it can be frozen), a TCP delay proxy, a throwaway Redis, and a
small recorder of what clients saw."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest
import urllib3

from infra.local import bootstrap, emulator
from infra.local.stack import Lane

REPO_ROOT = Path(__file__).resolve().parents[2]
FUZZ_RATE_LIMIT = "100000 per minute"
"""High enough that fuzzing or load from one address is never limited (unless a test wants 429s)."""


@dataclass
class Deployment:
    """An emulator, one data plane on it, and the lanes a test started."""

    emulator: emulator.Emulator
    data_plane: bootstrap.DataPlane
    log_dir: Path
    lanes: list[Lane] = field(default_factory=list)

    def lane(self, backend: str = "ec2", worker: bool = False, endpoint: str | None = None,
             **env: str) -> Lane:
        """Start a gunicorn API (and optionally a worker); `endpoint` overrides where AWS is."""
        from tests.service.conftest import auth_env

        port = emulator.free_port()
        lane_env = {
            **os.environ, **self.emulator.env, **self.data_plane.service_env(),
            **auth_env(self.emulator.endpoint), "SOUNDBITE_TRUSTED_PROXIES": "1",
            "SOUNDBITE_BACKEND": backend, "SOUNDBITE_BIND": f"127.0.0.1:{port}",
            "SOUNDBITE_FORCE_HTTPS": "false", "SOUNDBITE_RATE_LIMIT": FUZZ_RATE_LIMIT,
            # a 1 s poll wait: an idle worker stops at once when the test ends
            "SOUNDBITE_WORKER_POLL_SECONDS": "1", "PYTHONUNBUFFERED": "1", **env,
        }
        if endpoint:
            lane_env["AWS_ENDPOINT_URL"] = endpoint
        lane_env = {k: v for k, v in lane_env.items() if v is not None}
        lane = Lane(f"{backend}-{len(self.lanes)}", port, lane_env, self.log_dir)
        self.lanes.append(lane)
        LANE_TOKENS[lane.url] = self.token()
        lane.start_api()
        if worker:
            lane.start_worker()
        return lane

    def token(self, user: str = "verify") -> str:
        """A real token of this deployment's user pool (the lanes trust it)."""
        from tests.service.conftest import token

        return token(user, endpoint=self.emulator.endpoint)

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("*.log")))

    def stop(self) -> None:
        for lane in self.lanes:
            lane.stop()


@pytest.fixture
def deployment(aws_emulator, fresh_data_plane, tmp_path):
    """Lanes on the session's emulator, with a data plane of this test's own."""
    deployed = Deployment(aws_emulator, fresh_data_plane, tmp_path)
    yield deployed
    deployed.stop()


@pytest.fixture
def own_deployment(tmp_path):
    """An emulator of this test's own: chaos tests freeze it, which must not hit other tests."""
    em = emulator.start(log_path=str(tmp_path / "emulator.log"))
    try:
        plane = bootstrap.bootstrap(em.endpoint, environment=f"c{uuid.uuid4().hex[:8]}")
        deployed = Deployment(em, plane, tmp_path)
        yield deployed
        deployed.stop()
    finally:
        if em.process.poll() is None:
            os.killpg(em.process.pid, signal.SIGCONT)  # never leave it frozen behind us
        em.stop()



# --- clients ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One response as a client saw it (status 0: no response at all)."""

    started: float
    seconds: float
    method: str
    path: str
    status: int
    content_type: str
    body: bytes
    headers: dict


LANE_TOKENS: dict[str, str] = {}
"""The token each started lane's clients sign in with, by base URL."""


class Recorder:
    """Send requests and keep every outcome, from any number of threads; signed in as the
    lane's test user unless a request sends its own Authorization header."""

    def __init__(self, base_url: str, read_timeout: float = 60.0) -> None:
        self.base_url = base_url
        token = LANE_TOKENS.get(base_url)
        self.auth = {"Authorization": f"Bearer {token}"} if token else {}
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self.http = urllib3.PoolManager(maxsize=32, retries=False,
                                        timeout=urllib3.Timeout(connect=5.0, read=read_timeout))

    def request(self, method: str, path: str, **kwargs) -> Seen:
        started = time.monotonic()
        try:
            headers = {**self.auth, **kwargs.pop("headers", {})}
            response = self.http.request(method, self.base_url + path, redirect=False,
                                         headers=headers, **kwargs)
            status, body = response.status, response.data
            ctype, headers = response.headers.get("Content-Type", ""), dict(response.headers)
        except urllib3.exceptions.HTTPError:
            status, body, ctype, headers = 0, b"", "", {}
        seen = Seen(started, time.monotonic() - started, method, path, status, ctype, body, headers)
        with self._lock:
            self.seen.append(seen)
        return seen

    def create(self, text: str = "Chaos is a ladder.", key: str | None = None, **headers) -> Seen:
        return self.request("POST", "/v1/soundbites", json={"text": text, "format": "wav"},
                            headers={"Idempotency-Key": key or str(uuid.uuid4()), **headers})


# --- processes -------------------------------------------------------------------------------


def tree_rss(pid: int) -> int:
    """Resident memory of a process and all its children, in bytes."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def freeze(process) -> None:
    os.killpg(process.pid, signal.SIGSTOP)


def thaw(process) -> None:
    os.killpg(process.pid, signal.SIGCONT)


HTTP_METHODS = (b"GET ", b"POST ", b"PUT ", b"DELETE ", b"HEAD ")


class DelayProxy:
    """A TCP proxy that holds every chunk a client sends for `delay` seconds before passing
    it on: the emulator as a slow network or an overloaded dependency would look."""

    def __init__(self, upstream_port: int, delay: float = 0.0, port: int = 0) -> None:
        self.upstream_port = upstream_port
        self.delay = delay
        self.connections = 0
        self.requests = 0  # HTTP requests sent upstream, whether or not a connection was reused
        self.active = 0
        self.peak_active = 0
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", port))
        self.port = self._server.getsockname()[1]
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with self._lock:
            self.connections += 1
            self.active += 1
            self.peak_active = max(self.peak_active, self.active)
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        except OSError:
            client.close()
            self._done()
            return
        back = threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True)
        back.start()
        self._pump(client, upstream, True)
        back.join(1)
        self._done()

    def _done(self) -> None:
        with self._lock:
            self.active -= 1

    def _pump(self, source: socket.socket, target: socket.socket, delayed: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if delayed and chunk.startswith(HTTP_METHODS):
                    with self._lock:
                        self.requests += 1
                if delayed and self.delay:
                    time.sleep(self.delay)
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            source.close()

    def close(self) -> None:
        self._closed.set()
        self._server.close()


@pytest.fixture
def delay_proxy(own_deployment):
    proxy = DelayProxy(int(own_deployment.emulator.endpoint.rsplit(":", 1)[1]))
    yield proxy
    proxy.close()


def tool(name: str) -> str | None:
    return shutil.which(name)
