"""The application environment both stacks run with: built once, so they cannot differ.

Only SOUNDBITE_BACKEND tells the stacks apart, and it only labels logs and metrics. Secrets
are not in it: `app_secrets` names them with the Secrets Manager ARN each is read from, and
each stack injects them its own way (ECS task-definition `secrets`, EC2 fetched at boot).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from soundbite import spec

SYNTHESIZER = "polly"
TRUSTED_PROXIES_BEHIND_ALB = 1  # the load balancer is the one hop in front of the API
CURSOR_SECRET_VARIABLE = "SOUNDBITE_CURSOR_SECRET"


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
    auth_issuer: str
    auth_jwks_url: str
    auth_audience: str
    redis_url: str | None = None


def app_environment(settings: AppSettings, backend: str) -> dict[str, str]:
    """The `SOUNDBITE_*` variables for one backend (`ec2` or `fargate`), secrets excluded."""
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
        "SOUNDBITE_AUTH_ISSUER": settings.auth_issuer,
        "SOUNDBITE_AUTH_JWKS_URL": settings.auth_jwks_url,
        "SOUNDBITE_AUTH_AUDIENCE": settings.auth_audience,
        "SOUNDBITE_TRUSTED_PROXIES": str(TRUSTED_PROXIES_BEHIND_ALB),
        "AWS_DEFAULT_REGION": settings.region,
        "AWS_REGION": settings.region,
    }
    if settings.redis_url:
        env["SOUNDBITE_REDIS_URL"] = settings.redis_url
    return env


def app_secrets(cursor_secret_arn: str) -> dict[str, str]:
    """Secret variables of the API: variable name -> Secrets Manager ARN holding its value."""
    return {CURSOR_SECRET_VARIABLE: cursor_secret_arn}


def environment_output(settings: pulumi.Output, backend: str) -> pulumi.Output:
    """`app_environment` over an Output[AppSettings]."""
    return settings.apply(lambda s: app_environment(s, backend))
