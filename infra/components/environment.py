"""The application environment both stacks run with: built once, so they cannot differ.

Only SOUNDBITE_BACKEND tells the stacks apart, and it only labels logs and metrics.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from soundbite import spec

SYNTHESIZER = "polly"


@dataclass(frozen=True)
class AppSettings:
    """Resolved values (strings) the API and the worker are configured with."""

    environment: str
    region: str
    table: str
    idempotency_table: str
    bucket: str
    queue_url: str
    dlq_url: str
    rate_limit: str
    redis_url: str | None = None


def app_environment(settings: AppSettings, backend: str) -> dict[str, str]:
    """The `SOUNDBITE_*` variables for one backend (`ec2` or `fargate`)."""
    if backend not in spec.STACKS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {spec.STACKS}")
    env = {
        "SOUNDBITE_ENVIRONMENT": settings.environment,
        "SOUNDBITE_BACKEND": backend,
        "SOUNDBITE_TABLE": settings.table,
        "SOUNDBITE_IDEMPOTENCY_TABLE": settings.idempotency_table,
        "SOUNDBITE_BUCKET": settings.bucket,
        "SOUNDBITE_QUEUE_URL": settings.queue_url,
        "SOUNDBITE_DLQ_URL": settings.dlq_url,
        "SOUNDBITE_SYNTHESIZER": SYNTHESIZER,
        "SOUNDBITE_RATE_LIMIT": settings.rate_limit,
        "AWS_DEFAULT_REGION": settings.region,
        "AWS_REGION": settings.region,
    }
    if settings.redis_url:
        env["SOUNDBITE_REDIS_URL"] = settings.redis_url
    return env


def environment_output(settings: pulumi.Output, backend: str) -> pulumi.Output:
    """`app_environment` over an Output[AppSettings]."""
    return settings.apply(lambda s: app_environment(s, backend))
