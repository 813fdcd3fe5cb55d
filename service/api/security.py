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
    """The app as Talisman sees it, with Talisman's hooks running only for HTML documents."""

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
        return self._app.before_request(_for_documents(hook, lambda: None))

    def after_request(self, hook):
        return self._app.after_request(_for_documents(hook, lambda response: response))


def _for_documents(hook, otherwise):
    def scoped(*args):
        return hook(*args) if request.blueprint in DOCUMENT_BLUEPRINTS else otherwise(*args)
    return scoped


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


def init_app(app: Flask, settings: Settings, media: str) -> Talisman:
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
    fixed = list(api_headers().items())
    hsts = hsts_header()

    @app.after_request
    def _api_headers(response):
        if request.blueprint in DOCUMENT_BLUEPRINTS:
            return response
        headers = response.headers
        for name, value in fixed:
            headers[name] = value
        if request.is_secure:
            headers["Strict-Transport-Security"] = hsts
        return response

    return talisman
