"""Who is calling: bearer tokens of the emulator's user pool, owners only, and the settings
that may never be relaxed outside a developer's machine."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from infra.local import cognito
from service.api.auth import TokenVerifier, Unauthenticated
from soundbite.core.config import ConfigError
from tests.service.conftest import bearer, settings_for, sub, token, user_pool
from tests.service.test_api_core import assert_problem, create


def test_no_token_or_a_bad_one_is_a_401_with_a_bearer_challenge(client):
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer not-a-jwt"},
                    {"Authorization": "Basic YWxpY2U6cHc="}):
        response = client.get("/v1/soundbites", headers=headers)
        assert_problem(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    # Public routes need no token.
    assert client.get("/v1/voices", headers={"Authorization": ""}).status_code == 200


def test_id_and_access_tokens_both_name_the_user(client):
    for kind in ("IdToken", "AccessToken"):
        created = create(client, headers=bearer("erin", kind)).get_json()
        assert created["user_id"] == sub("erin")


def test_x_user_id_is_not_trusted(client):
    body = create(client, headers={"X-User-Id": "bob"}).get_json()
    assert body["user_id"] == sub("alice") != "bob"


def test_another_users_soundbites_answer_404(client):
    mine = create(client).get_json()["id"]
    for path in (f"/v1/soundbites/{mine}", f"/v1/soundbites/{mine}/audio"):
        assert client.get(path).status_code in (200, 409)
        assert_problem(client.get(path, headers=bearer("mallory")), 404)
    assert_problem(client.get(f"/v1/soundbites?user_id={sub('alice')}", headers=bearer("mallory")), 404)
    listed = client.get("/v1/soundbites", headers=bearer("mallory")).get_json()
    assert mine not in [item["id"] for item in listed["items"]]


def test_a_token_of_another_app_client_or_pool_is_refused(client, aws_emulator):
    _, idp = user_pool(aws_emulator.endpoint)
    other_pool = cognito.create_pool(idp, aws_emulator.endpoint, name=f"other-{uuid.uuid4().hex[:6]}")
    for kind in ("IdToken", "AccessToken"):
        foreign = cognito.token_for(idp, other_pool, "alice", kind)
        assert_problem(client.get("/v1/soundbites", headers={"Authorization": f"Bearer {foreign}"}), 401)
    pool, _ = user_pool(aws_emulator.endpoint)
    other_client = idp.create_user_pool_client(
        UserPoolId=pool.pool_id, ClientName="other", ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH"],
    )["UserPoolClient"]["ClientId"]
    sibling = cognito.LocalUserPool(pool.endpoint, pool.pool_id, other_client)
    for kind in ("IdToken", "AccessToken"):
        wrong_audience = cognito.token_for(idp, sibling, "alice", kind)
        assert_problem(client.get("/v1/soundbites",
                                  headers={"Authorization": f"Bearer {wrong_audience}"}), 401)


class OneKey:
    """A JWKS client holding one key pair, so claims can be forged with a valid signature."""

    def __init__(self) -> None:
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def get_signing_key_from_jwt(self, _token):
        return jwt.PyJWK.from_dict({**jwt.algorithms.RSAAlgorithm.to_jwk(
            self.private.public_key(), as_dict=True), "alg": "RS256"})

    def sign(self, **claims) -> str:
        now = int(time.time())
        base = {"iss": "https://issuer.example/pool", "sub": "u1", "aud": "app", "token_use": "id",
                "iat": now, "exp": now + 600}
        return jwt.encode({**base, **claims}, self.private, algorithm="RS256")


@pytest.mark.parametrize(("claims", "accepted"), [
    ({}, True),
    ({"exp": int(time.time()) - 60}, False),  # expired
    ({"iss": "https://elsewhere.example/pool"}, False),
    ({"aud": "other-app"}, False),
    ({"token_use": "access", "client_id": "app"}, True),
    ({"token_use": "access", "client_id": "other-app"}, False),
    ({"token_use": "refresh"}, False),
    ({"sub": ""}, False),
])
def test_issuer_audience_and_expiry_are_checked(claims, accepted):
    keys = OneKey()
    verifier = TokenVerifier("https://issuer.example/pool", "app", "unused", jwks_client=keys)
    signed = keys.sign(**claims)
    if accepted:
        assert verifier.verify(signed)["sub"] == claims.get("sub", "u1")
    else:
        with pytest.raises(Unauthenticated):
            verifier.verify(signed)


def test_an_unsigned_token_is_refused():
    keys = OneKey()
    verifier = TokenVerifier("https://issuer.example/pool", "app", "unused", jwks_client=keys)
    forged = jwt.encode({"iss": "https://issuer.example/pool", "sub": "u1", "aud": "app",
                         "token_use": "id", "iat": 1, "exp": 2**31}, key=None, algorithm="none")
    with pytest.raises(Unauthenticated):
        verifier.verify(forged)


def test_a_token_signed_with_the_public_key_as_an_hmac_secret_is_refused():
    """Algorithm confusion: HS256 keyed with the RSA public key a JWKS publishes to anyone."""
    import base64
    import hashlib
    import hmac
    import json

    from cryptography.hazmat.primitives import serialization

    keys = OneKey()
    verifier = TokenVerifier("https://issuer.example/pool", "app", "unused", jwks_client=keys)
    public = keys.private.public_key().public_bytes(serialization.Encoding.PEM,
                                                    serialization.PublicFormat.SubjectPublicKeyInfo)

    def part(data: dict) -> bytes:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=")

    now = int(time.time())
    signing_input = part({"alg": "HS256", "typ": "JWT"}) + b"." + part(
        {"iss": "https://issuer.example/pool", "sub": "mallory", "aud": "app", "token_use": "id",
         "iat": now, "exp": now + 600})
    mac = base64.urlsafe_b64encode(hmac.new(public, signing_input, hashlib.sha256).digest()).rstrip(b"=")
    with pytest.raises(Unauthenticated):
        verifier.verify((signing_input + b"." + mac).decode())


def test_an_unknown_key_is_the_callers_problem_and_keys_out_of_reach_are_ours():
    """A token naming no key the issuer publishes is a 401; a JWKS that cannot be fetched is
    our dependency failing (503 with Retry-After), never the caller's fault."""
    from service.api.auth import AuthUnavailable

    class Keys:
        def __init__(self, error):
            self.error = error

        def get_signing_key_from_jwt(self, _token):
            raise self.error

    signed = OneKey().sign()
    unknown = TokenVerifier("https://issuer.example/pool", "app", "unused",
                            jwks_client=Keys(jwt.PyJWKClientError('Unable to find a signing key that matches: "k9"')))
    with pytest.raises(Unauthenticated):
        unknown.verify(signed)
    away = TokenVerifier("https://issuer.example/pool", "app", "unused",
                         jwks_client=Keys(jwt.PyJWKClientConnectionError("timed out")))
    with pytest.raises(AuthUnavailable):
        away.verify(signed)


def test_auth_off_is_refused_outside_the_local_environments(make_app, fresh_data_plane):
    with pytest.raises(ConfigError, match="SOUNDBITE_AUTH=off"):
        make_app(settings=settings_for(fresh_data_plane, auth="off"))
    with pytest.raises(ConfigError, match="SOUNDBITE_AUTH_ISSUER"):
        make_app(settings=settings_for(fresh_data_plane, auth_issuer=""))


def test_the_deployed_dev_stack_is_not_a_developers_machine(make_app, fresh_data_plane):
    """`dev` names a stack in AWS (Pulumi.dev.yaml): no auth off, no built-in cursor secret."""
    dev = settings_for(fresh_data_plane).updated({"environment": "dev"})
    with pytest.raises(ConfigError, match="SOUNDBITE_AUTH=off"):
        make_app(settings=dev.updated({"auth": "off"}))
    with pytest.raises(ConfigError, match="SOUNDBITE_CURSOR_SECRET"):
        make_app(settings=dev.updated({"cursor_secret": ""}))


def test_auth_off_lets_anonymous_callers_in_locally(make_app, fresh_data_plane):
    local = settings_for(fresh_data_plane, auth="off").updated({"environment": "local"})
    local = local.updated({"table": fresh_data_plane.soundbites_table})
    client = make_app(settings=local).test_client()
    anonymous = create(client, headers={"Authorization": ""})
    assert anonymous.status_code == 202
    assert "user_id" not in anonymous.get_json()


@pytest.mark.parametrize("secret", ["", "soundbite-cursor", "soundbite-local-cursor", "short"])
def test_the_cursor_secret_is_required_outside_the_local_environments(make_app, fresh_data_plane,
                                                                      secret):
    with pytest.raises(ConfigError, match="SOUNDBITE_CURSOR_SECRET"):
        make_app(settings=settings_for(fresh_data_plane, cursor_secret=secret))


def test_a_cursor_forged_with_the_old_built_in_secret_is_refused(client):
    from soundbite.core.domain import CursorCodec

    for i in range(2):
        create(client, {"text": f"n{i}"})
    position = {"pk": "x", "sk": "y", "userId": sub("alice"), "environmentCreatedAt": "z"}
    forged = CursorCodec("soundbite-cursor").encode(position, sub("alice"))
    assert_problem(client.get(f"/v1/soundbites?cursor={forged}"), 400)


def test_token_helper_signs_in_real_users():
    assert token("alice") != token("bob")
