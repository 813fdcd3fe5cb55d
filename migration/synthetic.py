"""Synthetic transactions on one lane's direct name: create a soundbite, wait, fetch the audio.

What a client does, end to end, as a dedicated synthetic user: `POST /v1/soundbites`, poll
`GET /v1/soundbites/<id>` until ready, `GET .../audio` (a redirect to the presigned object,
fetched without the bearer token, which the object store would refuse beside its signature),
then decode the audio. The validate step compares both lanes' transactions; a soak tops up a
thin canary sample with them. Each transaction is a result, never an exception.

Tokens come from a `TokenSource`: a command that prints one (`soundbite dev token --user NAME`
locally), a Cognito user-pool client with a user whose password is in an environment variable,
or none where the API runs with authentication off.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from migration.exceptions import ConfigError

SYNTHETIC_USER = "soundbite-synthetic"
"""The user every synthetic transaction runs as (X-User-Id where authentication is off)."""
SYNTHETIC_PASSWORD_ENV = "SOUNDBITE_SYNTHETIC_PASSWORD"
"""The environment variable a target's `synthetic_auth` names for the user's password (never
the target file)."""
SYNTHETIC_TEXT = "SoundBite synthetic check: the quick brown fox jumps over the lazy dog."
TOKEN_REUSE_SECONDS = 300
"""A fetched token is reused this long (Cognito's last an hour); a 401 fetches a fresh one."""


def synthetic_username(record_name: str) -> str:
    """The synthetic user in a stack's user pool, whose usernames are email addresses."""
    return f"{SYNTHETIC_USER}@{record_name.rstrip('.')}"


class TokenSource(Protocol):
    def token(self, fresh: bool = False) -> str | None: ...


class NoToken:
    """The API runs with authentication off (local environments)."""

    def token(self, fresh: bool = False) -> str | None:
        return None


class _Cached:
    def __init__(self, fetch: Callable[[], str], now: Callable[[], float] = time.monotonic):
        self._fetch, self._now = fetch, now
        self._value: str | None = None
        self._at = 0.0

    def token(self, fresh: bool = False) -> str | None:
        if fresh or self._value is None or self._now() - self._at > TOKEN_REUSE_SECONDS:
            self._value, self._at = self._fetch(), self._now()
        return self._value


class CommandToken(_Cached):
    """A command whose standard output is a bearer token."""

    def __init__(self, command: str, timeout: float = 30.0, **kwargs):
        self.command = command
        super().__init__(self._run, **kwargs)
        self.timeout = timeout

    def _run(self) -> str:
        try:
            done = subprocess.run(shlex.split(self.command), capture_output=True, text=True,
                                  timeout=self.timeout, check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            raise ConfigError(f"synthetic token command {self.command!r} failed: {exc}") from exc
        token = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
        if done.returncode != 0 or not token:
            why = (done.stderr.strip().splitlines() or [f"exit {done.returncode}, no output"])[-1]
            raise ConfigError(f"synthetic token command {self.command!r} failed: {why}")
        return token


class CognitoPasswordToken(_Cached):
    """A user-pool user signed in with USER_PASSWORD_AUTH; the password from the environment."""

    def __init__(self, client_id: str, username: str, password_env: str, client=None,
                 kind: str = "AccessToken", environ=os.environ, **kwargs):
        self.client_id, self.username, self.password_env, self.kind = client_id, username, password_env, kind
        self._client, self._environ = client, environ
        super().__init__(self._sign_in, **kwargs)

    def _sign_in(self) -> str:
        password = self._environ.get(self.password_env)
        if not password:
            raise ConfigError(f"synthetic user {self.username}: set {self.password_env} to its password")
        client = self._client
        if client is None:
            import boto3

            client = boto3.client("cognito-idp")
        try:
            result = client.initiate_auth(ClientId=self.client_id, AuthFlow="USER_PASSWORD_AUTH",
                                          AuthParameters={"USERNAME": self.username, "PASSWORD": password})
        except Exception as exc:  # noqa: BLE001 - botocore's errors, named in one line
            raise ConfigError(f"synthetic user {self.username} could not sign in: {exc}") from exc
        return result["AuthenticationResult"][self.kind]


@dataclass(frozen=True)
class Transaction:
    """One synthetic transaction's outcome. `stage` is where it stopped (`done` when it passed)."""

    lane: str
    ok: bool
    stage: str
    detail: str
    soundbite_id: str | None = None
    audio_seconds: float | None = None
    round_trip_seconds: float = 0.0
    """The operator's whole round trip (DNS, TLS, polling): reported, never judged."""
    requests: int = 0
    """API calls the transaction made on the lane (create, polls, audio): what its load
    balancer counts."""
    server_errors: int = 0
    """Of those, answered 5xx or not at all: the lane's errors."""

    def to_dict(self) -> dict:
        return {"lane": self.lane, "ok": self.ok, "stage": self.stage, "detail": self.detail,
                "soundbite_id": self.soundbite_id, "audio_seconds": self.audio_seconds,
                "round_trip_seconds": round(self.round_trip_seconds, 3),
                "requests": self.requests, "server_errors": self.server_errors}


class _Failed(Exception):
    def __init__(self, stage: str, detail: str, soundbite_id: str | None = None):
        super().__init__(detail)
        self.stage, self.detail, self.soundbite_id = stage, detail, soundbite_id


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def audio_duration(data: bytes) -> float | None:
    """Seconds of audio in an encoded file (WAV, MP3, Ogg), None when it does not decode."""
    from soundbite.core.synth.formats import decoded_duration

    return decoded_duration(data)


class SoundbiteClient:
    """Runs synthetic transactions against one lane's base URL (its direct name)."""

    def __init__(self, lane: str, base_url: str, tokens: TokenSource | None = None, *,
                 user: str = SYNTHETIC_USER, text: str = SYNTHETIC_TEXT, audio_format: str | None = None,
                 timeout: float = 5.0, ready_timeout: float = 60.0, poll_seconds: float = 0.5,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic):
        self.lane, self.base = lane, base_url.rstrip("/")
        self.tokens = tokens or NoToken()
        self.user, self.text, self.audio_format = user, text, audio_format
        self.timeout, self.ready_timeout, self.poll_seconds = timeout, ready_timeout, poll_seconds
        self.sleep, self.clock = sleep, clock
        self._opener = urllib.request.build_opener(_NoRedirect)
        self._statuses: list[int | None] = []

    def transaction(self) -> Transaction:
        """Create, wait for ready, fetch and decode; a failure says at which stage and why."""
        started, self._statuses = self.clock(), []
        try:
            soundbite_id = self._create()
            self._wait_ready(soundbite_id)
            seconds = self._audio(soundbite_id)
        except _Failed as failed:
            return Transaction(self.lane, False, failed.stage, failed.detail, failed.soundbite_id,
                               round_trip_seconds=self.clock() - started, **self._counts())
        except Exception as exc:  # noqa: BLE001 - a token source or socket failing is a result too
            return Transaction(self.lane, False, "client", " ".join(str(exc).split())[:300],
                               round_trip_seconds=self.clock() - started, **self._counts())
        return Transaction(self.lane, True, "done", f"{seconds:.2f} s of audio", soundbite_id,
                           seconds, self.clock() - started, **self._counts())

    def _counts(self) -> dict:
        return {"requests": len(self._statuses),
                "server_errors": sum(1 for s in self._statuses if s is None or s >= 500)}

    # --- the three calls ------------------------------------------------------------------

    def _create(self) -> str:
        body = {"text": self.text}
        if self.audio_format:
            body["format"] = self.audio_format
        status, _, data = self._call("POST", "/v1/soundbites", body,
                                     {"Idempotency-Key": str(uuid.uuid4())})
        if status != 202:
            raise _Failed("create", f"POST /v1/soundbites answered {status}{_title(data)}")
        try:
            return str(json.loads(data)["id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise _Failed("create", "POST /v1/soundbites answered 202 without an id") from exc

    def _wait_ready(self, soundbite_id: str) -> None:
        deadline = self.clock() + self.ready_timeout
        while True:
            status, _, data = self._call("GET", f"/v1/soundbites/{soundbite_id}")
            if status != 200:
                raise _Failed("ready", f"GET /v1/soundbites/{soundbite_id} answered {status}{_title(data)}",
                              soundbite_id)
            body = json.loads(data)
            state = body.get("status")
            if state == "ready":
                return
            if state == "failed":
                raise _Failed("ready", f"soundbite {soundbite_id} failed: {body.get('failure_reason') or body.get('error') or 'no reason given'}",
                              soundbite_id)
            if self.clock() >= deadline:
                raise _Failed("ready", f"soundbite {soundbite_id} still {state} after "
                              f"{self.ready_timeout:.0f} s", soundbite_id)
            self.sleep(self.poll_seconds)

    def _audio(self, soundbite_id: str) -> float:
        status, headers, data = self._call("GET", f"/v1/soundbites/{soundbite_id}/audio")
        if status != 302 or not headers.get("Location"):
            raise _Failed("audio", f"GET .../audio answered {status}{_title(data)}, not a redirect",
                          soundbite_id)
        url = urllib.parse.urljoin(self.base + "/", headers["Location"])
        status, _, audio = self._fetch(urllib.request.Request(url))  # no token: the URL is signed
        if status != 200 or not audio:
            raise _Failed("audio", f"the audio URL answered {status}", soundbite_id)
        seconds = audio_duration(audio)
        if seconds is None:
            raise _Failed("decode", f"the audio ({len(audio)} bytes) does not decode", soundbite_id)
        return seconds

    # --- HTTP -----------------------------------------------------------------------------

    def _call(self, method: str, path: str, body: dict | None = None,
              headers: dict | None = None) -> tuple[int, dict, bytes]:
        for fresh in (False, True):
            request = urllib.request.Request(self.base + path, method=method, headers={
                "Accept": "application/json", **(headers or {})})
            if body is not None:
                request.data = json.dumps(body).encode()
                request.add_header("Content-Type", "application/json")
            token = self.tokens.token(fresh=fresh)
            if token:
                request.add_header("Authorization", f"Bearer {token}")
            else:
                request.add_header("X-User-Id", self.user)
            try:
                status, got, data = self._fetch(request)
            except _Failed:
                self._statuses.append(None)
                raise
            self._statuses.append(status)
            if status != 401 or not token:
                return status, got, data
        return status, got, data

    def _fetch(self, request: urllib.request.Request) -> tuple[int, dict, bytes]:
        try:
            with self._opener.open(request, timeout=self.timeout) as rsp:
                return rsp.status, dict(rsp.headers), rsp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers or {}), exc.read() or b""
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise _Failed("connect", f"{request.full_url}: {getattr(exc, 'reason', exc)}") from exc


def _title(data: bytes) -> str:
    try:
        body = json.loads(data)
    except ValueError:
        return ""
    title = body.get("title") if isinstance(body, dict) else None
    return f" ({title})" if title else ""


def token_source(auth: dict | None, session=None, environ=None) -> TokenSource:
    """The token source a target's `synthetic_auth` describes (none: authentication off);
    a password is read from `environ` (the process's environment by default)."""
    if not auth or auth.get("anonymous"):
        return NoToken()
    if auth.get("token_command"):
        return CommandToken(auth["token_command"])
    cognito = session.client("cognito-idp") if session is not None else None
    return CognitoPasswordToken(auth["client_id"], auth["username"], auth["password_env"],
                                client=cognito, environ=os.environ if environ is None else environ)


class Background:
    """Synthetic transactions run beside a soak, so its looks keep their schedule.

    `submit(n)` queues n transactions on a few daemon threads (a step that ends leaves the
    ones still running to finish on their own: they never hold up a rollback or the process's
    exit); `collect()` returns those finished since the last call, each with the time it was
    submitted (the window its requests belong to)."""

    def __init__(self, client: SoundbiteClient, workers: int,
                 now: Callable[[], float] = time.time) -> None:
        import queue
        import threading

        self._client, self._now = client, now
        self._queue: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._finished: list[tuple[float, Transaction]] = []
        self._closed = False
        self.submitted = 0
        self.done: list[tuple[float, Transaction]] = []
        self._workers = max(1, workers)
        for number in range(self._workers):
            threading.Thread(target=self._work, name=f"synthetic-{number}", daemon=True).start()

    def submit(self, count: int) -> None:
        for _ in range(count):
            self.submitted += 1
            self._queue.put(self._now())

    @property
    def in_flight(self) -> int:
        """Submitted and not yet collected."""
        return self.submitted - len(self.done)

    def collect(self) -> list[tuple[float, Transaction]]:
        with self._lock:
            finished, self._finished = self._finished, []
        self.done += finished
        return finished

    def close(self) -> None:
        """Nothing queued runs any more; the threads end after their current transaction."""
        self._closed = True
        for _ in range(self._workers):
            self._queue.put(None)

    def _work(self) -> None:
        while (submitted_at := self._queue.get()) is not None and not self._closed:
            result = self._client.transaction()
            with self._lock:
                self._finished.append((submitted_at, result))
