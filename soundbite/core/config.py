"""Settings from `SOUNDBITE_*` environment variables, parsed once per process.

AWS endpoints are not settings: boto3 reads its own `AWS_ENDPOINT_URL`, so the same code
talks to AWS or to the local emulator.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

from soundbite import spec

BACKENDS = ("local", "ec2", "fargate")
TRUE = {"1", "true", "yes", "on"}


LOCAL_CURSOR_SECRET = "soundbite-local-cursor"
KNOWN_CURSOR_SECRETS = frozenset({LOCAL_CURSOR_SECRET, "soundbite-cursor"})
"""Secrets anyone can read in this repository: never accepted outside the local environments."""


class ConfigError(ValueError):
    """A `SOUNDBITE_*` variable has a value the service cannot use."""


@dataclass(frozen=True)
class Settings:
    environment: str = spec.LOCAL_ENVIRONMENTS[0]
    backend: str = "local"
    table: str = ""
    idempotency_table: str = ""
    bucket: str = ""
    queue_url: str = ""
    dlq_url: str = ""
    redis_url: str = ""
    rate_limit: str = spec.RATE_LIMIT_DEFAULT
    serving_processes: int = 1
    """How many processes serve this app side by side (gunicorn's config sets it)."""
    synthesizer: str = "espeak"
    cursor_secret: str = ""
    auth: str = "on"
    auth_issuer: str = ""
    auth_jwks_url: str = ""
    auth_audience: str = ""
    internal_token: str = ""
    development: bool = False
    force_https: bool = True
    trusted_proxies: int = 0
    idempotency_ttl_seconds: int = spec.IDEMPOTENCY_TTL_SECONDS
    cache_ttl_seconds: int = spec.CACHE_TTL_SECONDS
    cache_in_flight_ttl_seconds: int = spec.CACHE_IN_FLIGHT_TTL_SECONDS
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ConfigError(f"SOUNDBITE_BACKEND must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if not 0 <= self.trusted_proxies <= spec.TRUSTED_PROXIES_MAX:
            raise ConfigError(f"SOUNDBITE_TRUSTED_PROXIES must be 0..{spec.TRUSTED_PROXIES_MAX} "
                              f"(how many proxies stand in front), got {self.trusted_proxies}")
        if self.auth not in ("on", "off"):
            raise ConfigError(f"SOUNDBITE_AUTH must be 'on' or 'off', got {self.auth!r}")
        names = spec.ResourceNames(self.environment)
        defaults = {
            "table": names.table(spec.SOUNDBITES_TABLE),
            "idempotency_table": names.table(spec.IDEMPOTENCY_TABLE),
            "bucket": names.bucket(spec.AUDIO_BUCKET),
        }
        for name, value in defaults.items():
            if not getattr(self, name):
                object.__setattr__(self, name, value)

    @property
    def local(self) -> bool:
        """A developer's machine (`soundbite dev`, compose), where development shortcuts are allowed."""
        return self.environment in spec.LOCAL_ENVIRONMENTS

    @property
    def auth_required(self) -> bool:
        return self.auth == "on"

    def api_cursor_secret(self) -> str:
        """The secret that signs list cursors: required, and not the built-in one, outside
        the local environments (every instance of both stacks must share one real secret)."""
        if self.local:
            return self.cursor_secret or LOCAL_CURSOR_SECRET
        if not self.cursor_secret or self.cursor_secret in KNOWN_CURSOR_SECRETS:
            raise ConfigError(f"SOUNDBITE_CURSOR_SECRET must be set in the {self.environment!r} "
                              "environment (a random string shared by every instance)")
        if len(self.cursor_secret) < spec.CURSOR_SECRET_MIN_CHARS:
            raise ConfigError(f"SOUNDBITE_CURSOR_SECRET must be at least "
                              f"{spec.CURSOR_SECRET_MIN_CHARS} characters")
        return self.cursor_secret

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        values: dict = {}
        for f in fields(cls):
            raw = environ.get(f"SOUNDBITE_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(f.name, raw, f.type)
        return cls(**values)

    def updated(self, overrides: Mapping[str, object]) -> Settings:
        known = {f.name for f in fields(self)}
        return replace(self, **{k: v for k, v in overrides.items() if k in known})


def _parse(name: str, raw: str, kind) -> object:
    kind = kind if isinstance(kind, str) else kind.__name__
    if kind == "bool":
        return raw.strip().lower() in TRUE
    if kind == "int":
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"SOUNDBITE_{name.upper()} must be an integer, got {raw!r}") from None
    return raw.strip()
