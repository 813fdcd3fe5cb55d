"""Clients that know nothing about lanes: create with idempotency keys, read, fetch audio.

A create is retried with the same key on a 5xx, a connection error or an in-progress 409,
as a careful client would. Every 5xx or connection error a client saw is counted as a
client-visible error, retried or not.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import urllib3

from soundbite.children import die_with_parent

CREATE_TEXTS = (
    "Welcome to SoundBite, the text to speech service.",
    "The migration moves traffic from EC2 to Fargate one step at a time.",
    "Nothing a client sends should be lost along the way.",
    "Every soundbite is synthesized exactly once per idempotency key.",
)
MAX_CREATE_ATTEMPTS = 8


@dataclass
class LoadStats:
    requests: int = 0
    client_errors: int = 0
    failed_operations: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    accepted: dict[str, str] = field(default_factory=dict)  # idempotency key -> soundbite id
    key_conflicts: int = 0  # a retry with the same key answered with a different soundbite
    audio_fetched: int = 0
    audio_bad: int = 0
    error_times: list[float] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "total": self.requests, "client_errors": self.client_errors,
            "failed_operations": self.failed_operations,
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "audio_fetched": self.audio_fetched, "audio_bad": self.audio_bad,
        }


class LoadGenerator:
    def __init__(self, base_url: str, rate: float, create_share: float = 0.2,
                 audio_share: float = 0.1, seed: int = 7, concurrency: int = 16,
                 token: str = "") -> None:
        self.base_url = base_url
        self._auth = {"Authorization": f"Bearer {token}"} if token else {}
        self.rate = rate
        self.create_share = create_share
        self.audio_share = audio_share
        self.stats = LoadStats()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="client")
        self._http = urllib3.PoolManager(maxsize=concurrency, retries=False,
                                         timeout=urllib3.Timeout(connect=2.0, read=20.0))
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._schedule, daemon=True)
        self._thread.start()

    def stop(self, wait: bool = True) -> None:
        """Stop sending: requests already sent finish (their answers are counted); those still
        queued behind a slow system are never sent (on a busy machine the queue can hold
        minutes of them, and their tally would be lost to the wait)."""
        self._stop.set()
        if self._thread:
            self._thread.join()
        self._pool.shutdown(wait=wait, cancel_futures=True)

    def _schedule(self) -> None:
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        while not self._stop.is_set():
            with self._lock:
                roll = self._rng.random()
                ids = list(self.stats.accepted.values())
            if roll < self.create_share or not ids:
                self._pool.submit(self.create)
            elif roll < self.create_share + self.audio_share:
                self._pool.submit(self.fetch_audio, self._rng.choice(ids))
            else:
                self._pool.submit(self.read, self._rng.choice(ids))
            next_at += interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def _request(self, method: str, path: str, **kwargs) -> urllib3.BaseHTTPResponse | None:
        try:
            headers = {**self._auth, **kwargs.pop("headers", {})}
            response = self._http.request(method, self.base_url + path, redirect=False,
                                          headers=headers, **kwargs)
        except urllib3.exceptions.HTTPError:
            response = None
        with self._lock:
            self.stats.requests += 1
            status = response.status if response is not None else 0
            self.stats.by_status[status] = self.stats.by_status.get(status, 0) + 1
            if status == 0 or status >= 500:
                self.stats.client_errors += 1
                self.stats.error_times.append(time.time())
        return response

    def create(self) -> str | None:
        key = str(uuid.uuid4())
        text = self._rng.choice(CREATE_TEXTS)
        body = json.dumps({"text": text, "format": "wav"}).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": key}
        for attempt in range(MAX_CREATE_ATTEMPTS):
            response = self._request("POST", "/v1/soundbites", body=body, headers=headers)
            if response is not None and response.status in (200, 201, 202):
                soundbite_id = json.loads(response.data)["id"]
                with self._lock:
                    known = self.stats.accepted.setdefault(key, soundbite_id)
                    self.stats.key_conflicts += known != soundbite_id
                return soundbite_id
            retriable = response is None or response.status >= 500 or response.status == 409
            if not retriable:
                break
            time.sleep(min(2.0, 0.1 * 2 ** attempt))
        with self._lock:
            self.stats.failed_operations += 1
        return None

    def read(self, soundbite_id: str) -> None:
        self._request("GET", f"/v1/soundbites/{soundbite_id}")

    def fetch_audio(self, soundbite_id: str) -> None:
        response = self._request("GET", f"/v1/soundbites/{soundbite_id}/audio")
        if response is None or response.status != 302:
            return  # 409 while not ready is normal
        try:
            audio = self._http.request("GET", response.headers["Location"], redirect=False)
        except urllib3.exceptions.HTTPError:
            audio = None
        with self._lock:
            ok = audio is not None and audio.status == 200 and audio.data[:4] == b"RIFF"  # wav
            self.stats.audio_fetched += ok
            self.stats.audio_bad += not ok


def _run_in_child(base_url: str, rate: float, seed: int, stop, conn, token: str = "",
                  parent: int | None = None) -> None:
    die_with_parent(parent=parent)
    generator = LoadGenerator(base_url, rate, seed=seed, token=token)
    generator.start()
    stop.wait()
    generator.stop()
    conn.send(generator.stats)
    conn.close()


class LoadProcess:
    """The load generator in a process of its own, so clients never share the edge's GIL
    and the latency the edge measures is the lanes' latency, not the load generator's."""

    def __init__(self, base_url: str, rate: float, seed: int = 7, token: str = "") -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._parent, child = context.Pipe(duplex=False)
        self._process = context.Process(target=_run_in_child, daemon=True,
                                        args=(base_url, rate, seed, self._stop, child, token, os.getpid()))
        self.stats = LoadStats()

    def start(self) -> None:
        self._process.start()

    def stop(self, timeout: float = 60.0) -> LoadStats:
        if not self._process.is_alive() and self._process.exitcode is not None:
            return self.stats
        self._stop.set()
        if self._parent.poll(timeout):
            self.stats = self._parent.recv()
        self._process.join(5)
        if self._process.is_alive():
            self._process.kill()
        return self.stats
