"""POST /api/v1/auth/signup: always a PET_OWNER, no mass assignment, password rules, 409."""

from __future__ import annotations

import asyncio
import unicodedata

from fastapi import FastAPI
from httpx import AsyncClient

from tests.api.auth_helpers import (
    API,
    STRONG_PASSWORD,
    count_users,
    get_user,
    login,
    login_ok,
    me,
    new_client,
    signup,
)
from vetchart.adapters.security.passwords import blocklist
from vetchart.domain.users import Role

EMAIL = "riley.walker@example.com"
# On the shipped blocklist, and long enough that only the blocklist can refuse it.
LONG_COMMON_PASSWORD = "1qaz2wsx3edc4rfv"


async def test_signup_creates_a_pet_owner_who_can_sign_in(app: FastAPI, client: AsyncClient):
    response = await signup(client, "Riley.Walker@Example.COM", full_name="  Riley   Walker ")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["role"] == Role.PET_OWNER.value
    assert body["email"] == EMAIL
    assert body["full_name"] == "Riley Walker"
    assert body["practice_id"] is None
    assert body["is_active"] is True
    assert body["mfa_enabled"] is False
    assert {"id", "created_at", "updated_at"} <= body.keys()
    assert not {"password", "password_hash"} & body.keys()

    stored = await get_user(app, EMAIL)
    assert stored is not None
    assert str(stored.id) == body["id"]
    assert stored.role is Role.PET_OWNER
    assert STRONG_PASSWORD not in stored.password_hash
    assert stored.password_hash.startswith("$argon2id$")

    tokens = await login_ok(client, EMAIL, STRONG_PASSWORD)
    profile = await me(client, tokens.access)
    assert profile.status_code == 200
    assert profile.json()["id"] == body["id"]


async def test_passwords_are_nfc_normalised_and_never_truncated(client: AsyncClient):
    composed = unicodedata.normalize("NFC", "Ünïcödé-bärën-fährt-weit")
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    assert (await signup(client, "unicode.person@example.com", decomposed)).status_code == 201
    await login_ok(client, "unicode.person@example.com", composed)
    await login_ok(client, "unicode.person@example.com", decomposed)

    long_password = (  # 108 characters, over bcrypt's 72 bytes
        "Seventy-two bytes is where bcrypt stops reading; "
        "argon2id reads every character of this sentence, all of it."
    )
    assert (await signup(client, "long.person@example.com", long_password)).status_code == 201
    await login_ok(client, "long.person@example.com", long_password)
    for prefix in (72, 100, len(long_password) - 1):
        response = await login(client, "long.person@example.com", long_password[:prefix])
        assert response.status_code == 401, prefix


async def test_signup_refuses_role_unknown_fields_and_invalid_input(
    app: FastAPI, client: AsyncClient
):
    base = {"email": EMAIL, "password": STRONG_PASSWORD, "full_name": "Riley Walker"}
    extras = [
        {"role": "SYSTEM_ADMIN"},
        {"role": "PET_OWNER"},
        {"practice_id": "0190f0f0-0000-7000-8000-000000000000"},
        {"is_active": True},
        {"mfa_enabled": True},
        {"is_admin": True},
    ]
    for extra in extras:
        response = await client.post(f"{API}/auth/signup", json={**base, **extra})
        assert response.status_code == 422, (extra, response.text)
        body = response.json()
        assert body["status"] == 422
        field = next(iter(extra))
        assert any(field in error["loc"] for error in body["errors"]), body
    # Signup is limited to 10 a minute per address: the rest from another address.
    async with new_client(app, "198.51.100.200") as other:
        for email in ["not-an-email", "a@b", "two words@example.com"]:
            response = await signup(other, email)
            assert response.status_code == 422, (email, response.text)
        assert (await signup(other, EMAIL, full_name="   ")).status_code == 422
        assert (await other.post(f"{API}/auth/signup", json={"email": EMAIL})).status_code == 422
    assert await get_user(app, EMAIL) is None
    assert await count_users(app) == 0


async def test_weak_passwords_are_refused_naming_the_rule(app: FastAPI, client: AsyncClient):
    assert LONG_COMMON_PASSWORD in blocklist()  # the case below is really a blocklisted one
    cases = {
        "short-pass-1": {"password.too_short"},
        "fourteen-chars": {"password.too_short"},
        LONG_COMMON_PASSWORD: {"password.blocklisted"},
        "aaaaaaaaaaaaaaaaaaaa": {"password.patterned"},
        "abcdefghijklmnopqrstu": {"password.patterned"},
        "1234567890123456789": {"password.patterned"},
        "passwordpasswordpassword": {"password.patterned"},
        "qwertyuiopasdfghjkl": {"password.patterned"},
        "mnbvcxzlkjhgfdsapoiuytrewq": {"password.patterned"},
        "riley.walker-likes-long-walks": {"password.contains_email"},
        "RILEY.WALKER and the big red dog": {"password.contains_email"},
        "my-vetchart-password-is-long": {"password.contains_product_name"},
        "MyVetChartPasswordIsLong": {"password.contains_product_name"},
    }
    for n, (password, rules) in enumerate(cases.items()):
        # Signup is limited to 10 a minute per address: one address per case.
        async with new_client(app, f"198.51.100.{n + 1}") as other:
            response = await signup(other, EMAIL, password)
        assert response.status_code == 422, (password, response.text)
        body = response.json()
        assert body["rule"] in rules, (password, body)
        assert body["field"] == "password"
        assert password not in response.text
    # Over the documented maximum (256 characters, the schema's maxLength): a validation
    # error on the field, before any rule runs.
    async with new_client(app, "198.51.100.250") as other:
        response = await signup(other, EMAIL, "x" * 257)
    assert response.status_code == 422
    assert [(e["loc"], e["type"]) for e in response.json()["errors"]] == [
        (["body", "password"], "string_too_long")
    ]
    assert await count_users(app) == 0

    # Exactly 15 characters and any Unicode are fine; the length counts characters.
    for ok_email, password in [
        ("a1@example.com", "violet harbour!"),
        ("a2@example.com", "ñandú-Köln-北京-Ωμέγα"),
    ]:
        response = await signup(client, ok_email, password)
        assert response.status_code == 201, (password, response.text)
        await login_ok(client, ok_email, password)


async def test_taken_email_is_a_409_whatever_its_case(app: FastAPI, client: AsyncClient):
    assert (await signup(client, EMAIL)).status_code == 201
    for variant in [EMAIL, EMAIL.upper(), "  Riley.Walker@example.com "]:
        response = await signup(client, variant, "another-long-passphrase-here")
        assert response.status_code == 409, (variant, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert await count_users(app) == 1


async def test_concurrent_signups_with_one_email_create_one_account(
    app: FastAPI, client: AsyncClient
):
    responses = await asyncio.gather(*(signup(client, EMAIL) for _ in range(4)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 409, 409, 409], [r.text for r in responses]
    assert await count_users(app) == 1
