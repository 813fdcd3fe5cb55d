"""boto3 clients with the timeouts and retries every SoundBite process uses.

Endpoints come from boto3's own `AWS_ENDPOINT_URL`, so the same code talks to AWS or to
the local emulator. Timeouts are short so a slow dependency cannot pile requests up.
"""

from __future__ import annotations

from functools import cache

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from soundbite import spec

CONNECT_TIMEOUT_SECONDS = spec.AWS_CONNECT_TIMEOUT_SECONDS
READ_TIMEOUT_SECONDS = spec.AWS_READ_TIMEOUT_SECONDS
MAX_ATTEMPTS = spec.AWS_MAX_ATTEMPTS

CLIENT_CONFIG = Config(
    connect_timeout=CONNECT_TIMEOUT_SECONDS,
    read_timeout=READ_TIMEOUT_SECONDS,
    # botocore's "max_attempts" counts retries after the first try (4 calls for 3);
    # "total_max_attempts" counts every call, which is what MAX_ATTEMPTS means.
    retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
    max_pool_connections=32,
)

AWS_ERRORS = (BotoCoreError, ClientError)


@cache
def client(service: str):
    """One shared, thread-safe client per service and process."""
    return boto3.session.Session().client(service, config=CLIENT_CONFIG)


class LazyClient:
    """A class attribute giving each instance its injected client (`self._client`), or the
    process's shared client for `service` on first use: `client = LazyClient("sqs")`."""

    def __init__(self, service: str) -> None:
        self.service = service

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        if instance._client is None:
            instance._client = client(self.service)
        return instance._client


def error_code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code", "Unknown")
    return type(exc).__name__
