"""The Flask API: `create_app` wires settings, clients, errors and cross-cutting hooks."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from service.api import (
    auth,
    context,
    csp_report,
    idempotency,
    limits,
    meta,
    page,
    problems,
    security,
    soundbites,
    telemetry,
)
from soundbite import spec
from soundbite.core import logs
from soundbite.core.config import Settings

SERVED_BY_HEADER = "X-Served-By"


class SoundBiteFlask(Flask):
    """Flask, asking once per hook or view whether it is a coroutine function.

    Flask asks `inspect.iscoroutinefunction` on every call of every hook and view: a dozen
    times per request here. The answer never changes for a function, so it is kept.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._sync_callables: dict = {}

    def ensure_sync(self, func):
        try:
            return self._sync_callables[func]
        except KeyError:
            return self._sync_callables.setdefault(func, super().ensure_sync(func))
        except TypeError:  # an unhashable callable: ask Flask every time
            return super().ensure_sync(func)


def create_app(config: Mapping[str, object] | None = None) -> Flask:
    """Defaults, then `SOUNDBITE_*` environment, then the caller's mapping.

    The mapping may hold settings fields (`environment`, `queue_url`, ...) and ready-made
    clients (`repository`, `audio_store`, `publisher`, `metrics`, `idempotency_store`,
    `soundbite_reader`) that tests pass in. `catalog`, the voices and formats the API offers
    (a `soundbite.core.synth.base.Catalog`), is always passed in by whoever assembles the app
    (soundbite/wsgi.py builds it with the core's `build_catalog`).
    """
    config = dict(config or {})
    settings = config.pop("settings", None) or Settings.from_env()
    settings = settings.updated(config)
    clients = {k: v for k, v in config.items() if not hasattr(settings, k)}

    app = SoundBiteFlask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = spec.BODY_MAX_BYTES
    app.json.sort_keys = False
    context.init_app(app, settings, clients)
    problems.register(app)
    telemetry.register(app, settings)
    for blueprint in (soundbites.bp, meta.bp, page.bp, csp_report.bp):
        app.register_blueprint(blueprint)
    with app.app_context():
        media = security.media_origin(context.audio_store())
    # Every response names the stack that answered (`ec2`, `fargate`; `local` in dev), so
    # during a shift a person with curl or the page can tell them apart.
    security.init_app(app, settings, media, always={SERVED_BY_HEADER: settings.backend})
    # The limit counts each address before sign-in is checked: requests with no or a bad
    # token are limited too (they cost a signature check, and a key fetch for an unknown kid).
    limits.init_app(app, settings)
    auth.init_app(app, settings, clients.get("verifier"))
    settings.api_cursor_secret()  # refuse to start without a real secret where one is required
    idempotency.register(app)
    # Keys are scoped by the verified caller: one user's key never replays another's response.
    idempotency.protect(app, "soundbites.create", caller=auth.current_user)
    # Outermost: as many trusted hops as proxies stand in front (SOUNDBITE_TRUSTED_PROXIES: 1
    # behind the ALB, 0 when clients connect directly): the last N X-Forwarded-For entries are
    # theirs, anything a client wrote in front is ignored. X-Forwarded-Proto tells HTTPS apart.
    hops = settings.trusted_proxies
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
    return app


def configure_logging(settings: Settings) -> None:
    logs.configure(settings.log_level, service="soundbite-api", backend=settings.backend)
