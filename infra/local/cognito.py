"""A Cognito user pool on the local emulator: the issuer the API verifies tokens against.

`soundbite dev` creates one pool and one app client, and `soundbite dev token --user NAME`
signs a user in (creating it on first use) and prints an ID token. The emulator's tokens name
AWS's issuer (`https://cognito-idp.<region>.amazonaws.com/<pool id>`) while its keys are served
by the emulator, so the API is given the issuer and the JWKS address separately.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from botocore.exceptions import ClientError

from infra.local.emulator import LOCAL_REGION

POOL_NAME = "soundbite-local-users"
CLIENT_NAME = "soundbite-local-web"
PASSWORD_ALPHABET = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


@dataclass(frozen=True)
class LocalUserPool:
    """A pool and its app client on the emulator, and what the API needs to trust it."""

    endpoint: str
    pool_id: str
    client_id: str
    region: str = LOCAL_REGION

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.pool_id}"

    @property
    def jwks_url(self) -> str:
        return f"{self.endpoint}/{self.pool_id}/.well-known/jwks.json"

    def service_env(self) -> dict[str, str]:
        """The `SOUNDBITE_AUTH_*` variables that make the API trust this pool."""
        return {
            "SOUNDBITE_AUTH_ISSUER": self.issuer,
            "SOUNDBITE_AUTH_JWKS_URL": self.jwks_url,
            "SOUNDBITE_AUTH_AUDIENCE": self.client_id,
        }

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> LocalUserPool:
        return cls(**json.loads(path.read_text()))


def create_pool(cognito, endpoint: str, name: str = POOL_NAME) -> LocalUserPool:
    """A new pool with one public app client that may sign users in with a password."""
    pool_id = cognito.create_user_pool(PoolName=name)["UserPool"]["Id"]
    client_id = cognito.create_user_pool_client(
        UserPoolId=pool_id, ClientName=CLIENT_NAME, GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_USER_PASSWORD_AUTH",
                           "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    return LocalUserPool(endpoint=endpoint, pool_id=pool_id, client_id=client_id)


def _password() -> str:
    # Meets Cognito's default policy: upper, lower, digit, symbol, at least 8 characters.
    body = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(16))
    return f"Aa1!{body}"


def ensure_user(cognito, pool: LocalUserPool, username: str, password: str | None = None) -> str:
    """Create `username` with a permanent password (or reset it); returns the password."""
    password = password or _password()
    try:
        cognito.admin_create_user(UserPoolId=pool.pool_id, Username=username,
                                  MessageAction="SUPPRESS")
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "UsernameExistsException":
            raise
    cognito.admin_set_user_password(UserPoolId=pool.pool_id, Username=username,
                                    Password=password, Permanent=True)
    return password


def sign_in(cognito, pool: LocalUserPool, username: str, password: str) -> dict:
    """Cognito's AuthenticationResult for a password sign-in: IdToken, AccessToken, ..."""
    result = cognito.admin_initiate_auth(
        UserPoolId=pool.pool_id, ClientId=pool.client_id, AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )
    return result["AuthenticationResult"]


def token_for(cognito, pool: LocalUserPool, username: str, kind: str = "IdToken") -> str:
    """A fresh token (ID token by default) for `username`, created on first use."""
    return sign_in(cognito, pool, username, ensure_user(cognito, pool, username))[kind]


def subject(token: str) -> str:
    """The user id (`sub`) a token of this pool names; the API verifies it, this only reads it."""
    import jwt

    return jwt.decode(token, options={"verify_signature": False})["sub"]
