"""The Amazon Cognito user pool that signs SoundBite's callers in, and the API's app client.

The API verifies bearer tokens against this pool (service/api/auth.py): the issuer is
`https://cognito-idp.<region>.amazonaws.com/<pool id>`, the keys are at
`<issuer>/.well-known/jwks.json`, and the audience is the app client's id. Both stacks get
the same three values, so a token works whichever stack DNS sends the caller to.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from soundbite import spec

PASSWORD_MIN_LENGTH = 12
TOKEN_VALIDITY_MINUTES = 60
REFRESH_TOKEN_VALIDITY_DAYS = 30
AUTH_FLOWS = ["ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
"""The page signs in with SRP. USER_PASSWORD_AUTH is for the migration's synthetic user
(migration/synthetic.py, `CognitoPasswordToken`), which signs in with its password from the
operator's environment. It must be this client: the API accepts tokens of exactly one app
client (`SOUNDBITE_AUTH_AUDIENCE`), so a second client's tokens would be refused."""


def issuer_url(region: str, pool_id: str) -> str:
    """The `iss` claim of the pool's tokens."""
    return f"https://cognito-idp.{region}.amazonaws.com/{pool_id}"


def jwks_url(issuer: str) -> str:
    """Where the pool publishes its signing keys."""
    return f"{issuer}/.well-known/jwks.json"


@dataclass(frozen=True)
class UserPoolArgs:
    pool_name: str
    region: str
    environment: str
    tags: dict[str, str] = field(default_factory=dict)


class UserPool(pulumi.ComponentResource):
    pool: aws.cognito.UserPool
    client: aws.cognito.UserPoolClient
    issuer: pulumi.Output[str]
    jwks_url: pulumi.Output[str]
    audience: pulumi.Output[str]

    def __init__(self, name: str, args: UserPoolArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("soundbite:infra:UserPool", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        production = args.environment == spec.PRODUCTION
        self.pool = aws.cognito.UserPool(
            f"{name}-pool", name=args.pool_name,
            username_attributes=["email"], auto_verified_attributes=["email"],
            password_policy={"minimum_length": PASSWORD_MIN_LENGTH, "require_lowercase": True,
                             "require_uppercase": True, "require_numbers": True,
                             "require_symbols": False, "temporary_password_validity_days": 7},
            account_recovery_setting={"recovery_mechanisms": [{"name": "verified_email", "priority": 1}]},
            # Losing the pool loses every user: prod's cannot be deleted by a stray `pulumi destroy`.
            deletion_protection="ACTIVE" if production else "INACTIVE",
            tags=args.tags, opts=child,
        )
        self.client = aws.cognito.UserPoolClient(
            f"{name}-client", name=f"{args.pool_name}-api", user_pool_id=self.pool.id,
            generate_secret=False,  # a browser page signs in: a public client
            explicit_auth_flows=AUTH_FLOWS,
            prevent_user_existence_errors="ENABLED", enable_token_revocation=True,
            access_token_validity=TOKEN_VALIDITY_MINUTES, id_token_validity=TOKEN_VALIDITY_MINUTES,
            refresh_token_validity=REFRESH_TOKEN_VALIDITY_DAYS,
            token_validity_units={"access_token": "minutes", "id_token": "minutes",
                                  "refresh_token": "days"},
            opts=child,
        )
        self.issuer = self.pool.id.apply(lambda pool_id: issuer_url(args.region, pool_id))
        self.jwks_url = self.issuer.apply(jwks_url)
        self.audience = self.client.id
        self.register_outputs({"issuer": self.issuer, "jwks_url": self.jwks_url,
                               "audience": self.audience})
