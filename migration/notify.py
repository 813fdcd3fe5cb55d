"""Notifications declared in the plan: webhooks, SNS topics or commands, on the engine's events.

A plan names hooks (`notify:` in the plan file); each hook picks events (shift, held,
awaiting-approval, rollback, promoted, complete) and one target. A hook that fails or hangs
is logged and skipped: it never blocks or undoes a rollback. The payload is the event itself,
which for verdict-driven events carries the verdict's evidence.
"""

from __future__ import annotations

import json
import logging
import subprocess
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

EVENTS = ("shift", "held", "awaiting-approval", "rollback", "promoted", "complete")
HOOK_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Hook:
    events: tuple[str, ...] = EVENTS
    webhook: str | None = None
    sns_topic: str | None = None
    command: str | None = None


@dataclass
class Notifier:
    """Wraps an event listener: passes every event on, then fires the hooks that want it."""

    hooks: tuple[Hook, ...]
    stack: str
    inner: Callable[[dict], None] = lambda _event: None
    sns_client: object | None = None
    """Injected: every topic is published through it. None: one client per topic region."""
    timeout: float = HOOK_TIMEOUT_SECONDS
    failures: list[str] = field(default_factory=list)
    region: str | None = None
    """The target's region, for a topic whose ARN names none (a topic ARN names its own)."""
    _sns_clients: dict[str | None, object] = field(default_factory=dict, init=False, repr=False)

    def __call__(self, event: dict) -> None:
        self.inner(event)
        payload = {"stack": self.stack, **event}
        for hook in self.hooks:
            if event.get("kind") not in hook.events:
                continue
            try:
                self._fire(hook, payload)
            except Exception as exc:  # noqa: BLE001 - a hook never stops the engine
                message = f"hook for {event.get('kind')} failed: {' '.join(str(exc).split())}"
                self.failures.append(message)
                log.warning(message)

    def _fire(self, hook: Hook, payload: dict) -> None:
        body = json.dumps(payload, default=str)
        if hook.webhook:
            request = urllib.request.Request(hook.webhook, data=body.encode(), method="POST",
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        if hook.sns_topic:
            self._sns(hook.sns_topic).publish(TopicArn=hook.sns_topic, Message=body,
                                              Subject=f"soundbite {self.stack}: {payload.get('kind')}"[:100])
        if hook.command:
            subprocess.run(hook.command, shell=True, input=body, text=True, check=True,  # noqa: S602
                           timeout=self.timeout, capture_output=True)

    def _sns(self, topic: str):
        """The SNS client for `topic`: the injected one, else a client in the topic's region
        (SNS answers for a topic only in its own region), else in the target's."""
        if self.sns_client is not None:
            return self.sns_client
        parts = topic.split(":")
        region = (parts[3] if len(parts) > 3 else "") or self.region
        if region not in self._sns_clients:
            import boto3
            from botocore.config import Config

            # a hook runs on the engine's thread: never longer than its timeout, once retried
            config = Config(connect_timeout=self.timeout, read_timeout=self.timeout,
                            retries={"total_max_attempts": 2, "mode": "standard"})
            self._sns_clients[region] = boto3.session.Session(region_name=region).client(
                "sns", config=config)
        return self._sns_clients[region]
