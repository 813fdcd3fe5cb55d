"""Who is calling: `Authorization: Bearer <JWT>` verified against an OIDC issuer's keys.

In AWS the issuer is the Amazon Cognito user pool the Pulumi program creates; locally it is
the emulator's pool (`soundbite dev`). The issuer and the JWKS address are configured apart
(`SOUNDBITE_AUTH_ISSUER`, `SOUNDBITE_AUTH_JWKS_URL`): the emulator's tokens name AWS's issuer
while the emulator serves the keys. The caller is the token's `sub`.

Cognito issues two kinds of token for an app client: ID tokens carry the client id in `aud`,
access tokens carry it in `client_id` (and have no `aud`). Both are accepted, each checked by
its own claim, and `token_use` says which is which.

`SOUNDBITE_AUTH=off` lets anonymous callers in, only in the local environments; elsewhere the
app refuses to start with it.
"""

from __future__ import annotations

import logging

import jwt
from flask import Flask, g, request

from service.api.problems import problem
from soundbite import spec
from soundbite.core.config import ConfigError, Settings

ALGORITHMS = ["RS256"]
PROTECTED_BLUEPRINTS = frozenset({"soundbites"})
"""Whose routes need a caller: the soundbites. The page, voices, health and documents do not."""
log = logging.getLogger("soundbite.api")


class Unauthenticated(Exception):
    """No token, or one that does not verify; the message says which check failed."""


class TokenVerifier:
    """Verifies a JWT's signature (keys from the JWKS, cached), issuer, audience and expiry.

    `jwks_client` and `clock` are injectable; by default PyJWT's PyJWKClient and the time.
    """

    def __init__(self, issuer: str, audience: str, jwks_url: str, jwks_client=None,
                 leeway_seconds: int = spec.AUTH_CLOCK_LEEWAY_SECONDS) -> None:
        self.issuer = issuer
        self.audience = audience
        self.jwks_url = jwks_url
        self.leeway = leeway_seconds
        self._jwks_client = jwks_client

    @property
    def jwks_client(self) -> jwt.PyJWKClient:
        if self._jwks_client is None:
            self._jwks_client = jwt.PyJWKClient(
                self.jwks_url, cache_keys=True, lifespan=spec.AUTH_JWKS_CACHE_SECONDS,
                timeout=spec.AUTH_JWKS_TIMEOUT_SECONDS)
        return self._jwks_client

    def verify(self, token: str) -> dict:
        """The token's claims, or Unauthenticated."""
        try:
            key = self.jwks_client.get_signing_key_from_jwt(token).key
            claims = jwt.decode(
                token, key, algorithms=ALGORITHMS, issuer=self.issuer, leeway=self.leeway,
                options={"require": ["exp", "iat", "iss", "sub", "token_use"],
                         "verify_aud": False},  # checked below, per kind of token
            )
        except jwt.PyJWKClientConnectionError as exc:
            # The keys could not be fetched: our dependency, not the caller's token.
            raise AuthUnavailable(str(exc)) from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated(str(exc) or type(exc).__name__) from exc
        use = claims.get("token_use")
        if use == "id":
            audiences = claims.get("aud")
            audiences = [audiences] if isinstance(audiences, str) else audiences or []
            if self.audience not in audiences:
                raise Unauthenticated("the token is for another audience")
        elif use == "access":
            if claims.get("client_id") != self.audience:
                raise Unauthenticated("the token is for another client")
        else:
            raise Unauthenticated("the token is neither an ID nor an access token")
        if not isinstance(claims["sub"], str) or not 0 < len(claims["sub"]) <= spec.USER_ID_MAX_CHARS:
            raise Unauthenticated("the token's subject is not usable")
        return claims


class AuthUnavailable(Exception):
    """The issuer's keys could not be fetched."""


def check_settings(settings: Settings) -> None:
    """Refuse to start with authentication off outside the local environments, or on
    without everything it needs."""
    if not settings.auth_required:
        if settings.environment not in spec.LOCAL_ENVIRONMENTS:
            raise ConfigError(
                f"SOUNDBITE_AUTH=off is allowed only in the {', '.join(spec.LOCAL_ENVIRONMENTS)} "
                f"environments, not in {settings.environment!r}")
        return
    missing = [name for name, value in (
        ("SOUNDBITE_AUTH_ISSUER", settings.auth_issuer),
        ("SOUNDBITE_AUTH_JWKS_URL", settings.auth_jwks_url),
        ("SOUNDBITE_AUTH_AUDIENCE", settings.auth_audience)) if not value]
    if missing:
        raise ConfigError(f"authentication is on but {', '.join(missing)} is not set "
                          "(or set SOUNDBITE_AUTH=off in a local environment)")


def current_user() -> str | None:
    """The verified caller (`sub`), or None for an anonymous caller when auth is off."""
    return g.get("user_id")


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        return None
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header is not 'Bearer <token>'")
    return token.strip()


def _challenge(error: str | None) -> str:
    value = 'Bearer realm="soundbite"'
    return value + (f', error="{error}"' if error else "")


def init_app(app: Flask, settings: Settings, verifier: TokenVerifier | None = None) -> None:
    check_settings(settings)
    if settings.auth_required and verifier is None:
        verifier = TokenVerifier(settings.auth_issuer, settings.auth_audience, settings.auth_jwks_url)
    app.extensions["soundbite"]["verifier"] = verifier

    @app.before_request
    def _authenticate():
        g.user_id = None
        if request.blueprint not in PROTECTED_BLUEPRINTS:
            return None
        try:
            token = _bearer()
            if token is None:
                if not settings.auth_required:
                    return None  # anonymous, allowed only in a local environment
                raise Unauthenticated("")
            if verifier is None:
                raise Unauthenticated("this environment accepts no tokens")
            g.user_id = verifier.verify(token)["sub"]
        except Unauthenticated as exc:
            reason = str(exc)
            return problem(401, "unauthorized", "Authentication required",
                           reason or "send Authorization: Bearer <token> from the user pool",
                           headers={"WWW-Authenticate": _challenge("invalid_token" if reason else None)})
        except AuthUnavailable as exc:
            log.warning("token keys unavailable", extra={"reason": str(exc)})
            return problem(503, "service-unavailable", "Service temporarily unavailable",
                           "the sign-in keys could not be fetched; retry shortly",
                           headers={"Retry-After": "1"})
        return None
