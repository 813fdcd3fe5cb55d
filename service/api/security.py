"""Security headers: HSTS over HTTPS, nosniff, no framing, no referrer, a CSP on every
response, and HTTPS redirects everywhere but the health checks.

- HTML documents (the page) go through flask-talisman: a CSP with a fresh nonce per request.
  The nonce is 16 random bytes, base64, made before Talisman's own hook runs (Talisman keeps
  a nonce already on the request), and templates put it on every script and style tag.
- Every other answer (JSON, problems, static files) carries one header set built at start-up,
  with the strictest CSP (`default-src 'none'`): nothing in a JSON body may run or load, so
  it needs no nonce, and the hot path does not parse a policy per request.
"""

from __future__ import annotations

import base64
import secrets
from urllib.parse import urlsplit

from flask import Flask, redirect, request
from flask_talisman import Talisman
from flask_talisman.talisman import DENY

from soundbite.core.config import Settings

CSP_REPORT_PATH = "/api/csp-report"
HSTS_MAX_AGE_SECONDS = 365 * 24 * 3600
NONCE_BYTES = 16
PLAIN_HTTP_ENDPOINTS = ("meta.healthz", "meta.readyz")
"""The ALB health check speaks plain HTTP without X-Forwarded-Proto: never redirect it."""
HTTPS_REDIRECT_STATUS = 308
"""Permanent, and keeps the method and body (a 301 or 302 turns a POST into a GET)."""
DOCUMENT_BLUEPRINTS = frozenset({"page"})
"""Blueprints whose answers are HTML documents: the only ones that need a nonce."""
API_CONTENT_SECURITY_POLICY = {
    "default-src": "'none'", "object-src": "'none'", "base-uri": "'none'",
    "form-action": "'none'", "frame-ancestors": "'none'",
}


def new_nonce() -> str:
    return base64.b64encode(secrets.token_bytes(NONCE_BYTES)).decode()


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def media_origin(audio_store) -> str:
    """Where presigned audio URLs point (the bucket's origin in AWS, the emulator locally)."""
    return origin_of(audio_store.presigned_url("audio/probe"))


def content_security_policy(settings: Settings, media: str) -> dict[str, str]:
    inline = " 'unsafe-inline'" if settings.development else ""
    return {
        "default-src": "'self'",
        "script-src": "'self'" + inline,
        "style-src": "'self'" + inline,
        "img-src": "'self' data:",
        "media-src": f"'self' {media}",
        "connect-src": "'self'" + (f" {origin_of(settings.auth_jwks_url)}"
                                   if settings.auth_required and settings.auth_jwks_url else ""),
        "font-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }


class _Documents:
    """The app as Talisman sees it: its hooks registered for the document blueprints only
    (Flask's hook lists keyed by blueprint name), so no other request runs them."""

    def __init__(self, app: Flask) -> None:
        self._app = app
        self.jinja_env = app.jinja_env

    @property
    def config(self):
        return self._app.config

    @property
    def debug(self) -> bool:
        return self._app.debug

    def before_request(self, hook):
        return self._register(self._app.before_request_funcs, hook)

    def after_request(self, hook):
        return self._register(self._app.after_request_funcs, hook)

    @staticmethod
    def _register(hooks: dict, hook):
        for blueprint in DOCUMENT_BLUEPRINTS:
            hooks.setdefault(blueprint, []).append(hook)
        return hook


def api_headers() -> dict[str, str]:
    """The header set of every answer that is not an HTML document, built once."""
    policy = {**API_CONTENT_SECURITY_POLICY, "report-uri": CSP_REPORT_PATH}
    return {
        "Content-Security-Policy": "; ".join(f"{name} {value}" for name, value in policy.items()),
        "X-Frame-Options": DENY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


def hsts_header() -> str:
    return f"max-age={HSTS_MAX_AGE_SECONDS}; includeSubDomains"


class ResponseHeaders:
    """WSGI middleware adding the headers built at start-up to every answer: one list extend
    on the way out, not a `Headers.set` per header per request.

    - `always` goes on every answer;
    - the API set (`api_headers`, and HSTS over HTTPS) goes on every answer without a
      Content-Security-Policy of its own. Only Talisman's HTML documents have one, so an
      answer nobody secured gets the strictest set.

    It must sit inside ProxyFix: the scheme it reads is the one the trusted proxies stated.
    """

    def __init__(self, wsgi_app, always: dict[str, str]) -> None:
        self._app = wsgi_app
        self._always = list(always.items())
        self._api = list(api_headers().items())
        self._secure_api = [*self._api, ("Strict-Transport-Security", hsts_header())]

    def __call__(self, environ, start_response):
        fixed = self._secure_api if environ.get("wsgi.url_scheme") == "https" else self._api

        def start(status, headers, exc_info=None):
            headers.extend(self._always)
            if not any(name == "Content-Security-Policy" for name, _ in headers):
                headers.extend(fixed)
            return start_response(status, headers, exc_info)

        return self._app(environ, start)


def init_app(app: Flask, settings: Settings, media: str, always: dict[str, str]) -> Talisman:
    """Talisman for HTML documents, `ResponseHeaders` (with `always`) for every answer."""
    if settings.force_https:
        @app.before_request
        def _https():
            # request.scheme is what the trusted proxies said (ProxyFix), or the socket's.
            if request.scheme != "https" and request.endpoint not in PLAIN_HTTP_ENDPOINTS:
                return redirect(request.url.replace("http://", "https://", 1), HTTPS_REDIRECT_STATUS)
            return None

    documents = _Documents(app)

    @documents.before_request
    def _nonce() -> None:
        request.csp_nonce = new_nonce()

    talisman = Talisman(
        documents,
        force_https=False,  # Talisman redirects with 301/302; ours above answers 308
        frame_options=DENY,
        strict_transport_security=True,
        strict_transport_security_max_age=HSTS_MAX_AGE_SECONDS,
        strict_transport_security_include_subdomains=True,
        content_security_policy=content_security_policy(settings, media),
        content_security_policy_nonce_in=["script-src", "style-src"],
        content_security_policy_report_uri=CSP_REPORT_PATH,
        referrer_policy="no-referrer",
        session_cookie_secure=True,
        x_content_type_options=True,
    )
    app.wsgi_app = ResponseHeaders(app.wsgi_app, always)
    return talisman
