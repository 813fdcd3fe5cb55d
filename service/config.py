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


class ConfigError(ValueError):
    """A `SOUNDBITE_*` variable has a value the service cannot use."""


@dataclass(frozen=True)
class Settings:
    environment: str = "dev"
    backend: str = "local"
    table: str = ""
    idempotency_table: str = ""
    bucket: str = ""
    queue_url: str = ""
    dlq_url: str = ""
    redis_url: str = ""
    rate_limit: str = spec.RATE_LIMIT_DEFAULT
    synthesizer: str = "espeak"
    cursor_secret: str = "soundbite-cursor"
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
        names = spec.ResourceNames(self.environment)
        defaults = {
            "table": names.table(spec.SOUNDBITES_TABLE),
            "idempotency_table": names.table(spec.IDEMPOTENCY_TABLE),
            "bucket": names.bucket(spec.AUDIO_BUCKET),
        }
        for name, value in defaults.items():
            if not getattr(self, name):
                object.__setattr__(self, name, value)

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
