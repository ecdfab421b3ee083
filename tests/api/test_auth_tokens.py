"""Access token verification (RFC 8725): tampering, expiry, audiences, types, key rotation."""

from __future__ import annotations

import time
from datetime import timedelta

import jwt
import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from tests.api.auth_helpers import (
    API,
    OWNER,
    RIVERSIDE_VET,
    Tokens,
    access_claims,
    b64url,
    bearer,
    cheap_auth,
    get_user,
    jwt_tokens,
    login,
    login_ok,
    me,
    refresh,
    running_app,
    seed_demo,
    sign,
    utcnow,
)
from tests.conftest import TEST_JWT_SECRET, make_settings
from vetchart.adapters.security.tokens import key_id
from vetchart.domain.users import User

OTHER_SECRET = "an-attackers-secret-that-is-also-long-enough-0001"


async def assert_refused(client: AsyncClient, token: str, case: str) -> None:
    response = await me(client, token)
    assert response.status_code == 401, (case, response.status_code, response.text)
    assert response.headers["www-authenticate"] == "Bearer", case
    assert response.headers["content-type"].startswith("application/problem+json"), case


@pytest.fixture
async def vet_session(app: FastAPI, client: AsyncClient) -> tuple[User, Tokens]:
    """The demo vet, signed in, after checking that a token built by these helpers with
    the right key and claims is accepted: every refusal below is due to the one thing
    changed."""
    users = await seed_demo(app)
    user, tokens = users[RIVERSIDE_VET], await login_ok(client, RIVERSIDE_VET)
    control = await me(client, sign(access_claims(user.id, tokens.session_id, "VET")))
    assert control.status_code == 200, control.text
    assert control.json()["id"] == str(user.id)
    return user, tokens


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_tampered_signatures_algorithms_and_keys_are_refused(
    client: AsyncClient, vet_session: tuple[User, Tokens]
):
    user, tokens = vet_session
    response = await client.get(f"{API}/users/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    for header in [
        f"Basic {tokens.access}",
        f"Token {tokens.access}",
        "Bearer",
        "Bearer not-a-jwt",
        "Bearer a.b.c",
        f"Bearer {tokens.access}x",
        f"Bearer {tokens.access[:-4]}",
    ]:
        response = await client.get(f"{API}/users/me", headers={"Authorization": header})
        assert response.status_code == 401, (header, response.text)
        assert response.headers["www-authenticate"] == "Bearer", header

    claims = access_claims(user.id, tokens.session_id, "VET")
    real_signature = sign(claims).rsplit(".", 1)[1]
    cases: dict[str, str] = {}
    for alg in ["none", "None", "NONE", "nOnE"]:
        header = {"alg": alg, "typ": "at+jwt", "kid": key_id(TEST_JWT_SECRET)}
        unsigned = f"{b64url(header)}.{b64url(claims)}."
        cases[f"alg={alg}"] = unsigned
        cases[f"alg={alg} with a real signature pasted on"] = unsigned + real_signature
    cases.update(
        {
            "payload changed under a valid signature": (
                f"{sign(claims).rsplit('.', 2)[0]}.{b64url({**claims, 'role': 'SYSTEM_ADMIN'})}"
                f".{real_signature}"
            ),
            "signed with another key, claiming our kid": sign(
                claims, secret=OTHER_SECRET, headers={"kid": key_id(TEST_JWT_SECRET)}
            ),
            "signed with another key, its own kid": sign(claims, secret=OTHER_SECRET),
            "HS512 with the right key": sign(claims, algorithm="HS512"),
            "HS384 with the right key": sign(claims, algorithm="HS384"),
            "right key, unconfigured kid": sign(claims, headers={"kid": "not-a-configured-kid"}),
            "right key, no kid": sign(claims, headers={"kid": None}),
            "jku pointing elsewhere": sign(
                claims,
                secret=OTHER_SECRET,
                headers={"jku": "https://evil.example/jwks.json", "kid": "evil-key"},
            ),
            "x5u pointing elsewhere": sign(
                claims,
                secret=OTHER_SECRET,
                headers={"x5u": "https://evil.example/cert.pem", "kid": "evil-key"},
            ),
            "jku with our kid, other key": sign(
                claims,
                secret=OTHER_SECRET,
                headers={"jku": "https://evil.example/jwks.json", "kid": key_id(TEST_JWT_SECRET)},
            ),
            "embedded jwk": sign(
                claims,
                secret=OTHER_SECRET,
                headers={
                    "jwk": {"kty": "oct", "k": b64url(OTHER_SECRET.encode()), "kid": "evil-key"},
                    "kid": "evil-key",
                },
            ),
        }
    )
    for case, token in cases.items():
        await assert_refused(client, token, case)


async def test_wrong_claims_types_and_times_are_refused(
    app: FastAPI, client: AsyncClient, vet_session: tuple[User, Tokens]
):
    user, tokens = vet_session
    now = int(time.time())
    sid = tokens.session_id

    def claims(**overrides: object) -> dict[str, object]:
        return {**access_claims(user.id, sid, "VET"), **overrides}

    def without(name: str) -> dict[str, object]:
        return {k: v for k, v in claims().items() if k != name}

    owner = await get_user(app, OWNER)
    assert owner is not None
    cases = {
        "wrong audience": sign(claims(aud="another-api")),
        "audience of mfa tokens": sign(claims(aud="vetchart-api:mfa")),
        "wrong issuer": sign(claims(iss="https://evil.example")),
        "expired": sign(claims(iat=now - 3600, nbf=now - 3600, exp=now - 1800)),
        "not yet valid (future nbf)": sign(claims(nbf=now + 600, exp=now + 1200)),
        "no exp": sign(without("exp")),
        "no nbf": sign(without("nbf")),
        "no sid": sign(without("sid")),
        "no jti": sign(without("jti")),
        "unknown session id": sign(claims(sid="0190f0f0-0000-7000-8000-000000000000")),
        "another user's id with this session": sign(claims(sub=str(owner.id))),
        "typ JWT": sign(claims(), headers={"typ": "JWT"}),
        "typ of mfa tokens": sign(claims(), headers={"typ": "mfa+jwt"}),
        "no typ": sign(claims(), headers={"typ": None}),
        # Issued by the real token service with a clock 20 minutes in the past.
        "issued 20 minutes ago": jwt_tokens()
        .issue_access(user, sid, utcnow() - timedelta(minutes=20))
        .token,
        # An MFA token (right key, issuer and subject) is not an access token.
        "mfa token": jwt_tokens().issue_mfa(user.id, utcnow()).token,
        "refresh token": tokens.refresh,
    }
    for case, token in cases.items():
        await assert_refused(client, token, case)
    # The same token service with the current clock is accepted.
    fresh = jwt_tokens().issue_access(user, sid, utcnow()).token
    assert (await me(client, fresh)).status_code == 200
    # The role comes from the user row, never from the token.
    promoted = sign(claims(role="SYSTEM_ADMIN"))
    assert (await client.get(f"{API}/users", headers=bearer(promoted))).status_code == 403
    # An access token is not a refresh token either.
    assert (await refresh(client, tokens.access)).status_code == 401


async def test_a_rotated_key_still_verifies_until_removed(database_url: str):
    old_secret = "the-previous-signing-key-of-this-deployment-0001"
    new_secret = "the-current-signing-key-of-this-deployment-00002"
    rotated = make_settings(
        database_url, auth=cheap_auth(jwt_secret=new_secret, jwt_previous_secrets=[old_secret])
    )
    async with running_app(rotated, database_url) as (app, client):
        users = await seed_demo(app)
        tokens = await login_ok(client, RIVERSIDE_VET)
        vet = users[RIVERSIDE_VET]
        assert tokens.access.count(".") == 2
        assert (await me(client, tokens.access)).status_code == 200
        # New tokens are signed with the new key...
        header_kid = jwt.get_unverified_header(tokens.access)["kid"]
        assert header_kid == key_id(new_secret)
        # ...and tokens signed with the previous key still verify.
        old_token = jwt_tokens(old_secret).issue_access(vet, tokens.session_id, utcnow()).token
        response = await me(client, old_token)
        assert response.status_code == 200, response.text
        # A key that was never configured does not.
        stranger = jwt_tokens(OTHER_SECRET).issue_access(vet, tokens.session_id, utcnow()).token
        await assert_refused(client, stranger, "unconfigured key")

    # Once the old key is removed from the settings, its tokens stop verifying.
    removed = make_settings(database_url, auth=cheap_auth(jwt_secret=new_secret))
    async with running_app(removed, database_url) as (_app, client):
        await assert_refused(client, old_token, "removed key")
        assert (await me(client, tokens.access)).status_code == 200
        # Logging in still works with the current key.
        assert (await login(client, RIVERSIDE_VET)).status_code == 200
