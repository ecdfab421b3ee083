"""Shared helpers for the identity API tests (tests/api/test_auth_*.py).

Users come from the demo seeder (one of each role, two practices) or from signup through
the API. Apps with special settings are built with ``running_app``; everything talks to
the ASGI app in process, from a fixed socket peer address.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import jwt
import pyotp
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Response
from sqlalchemy import select

from tests.conftest import TEST_JWT_SECRET
from vetchart.adapters.db.tables import audit_events
from vetchart.adapters.security.tokens import JwtTokens, key_id
from vetchart.api.app import create_app
from vetchart.bootstrap import Container, demo_seeders
from vetchart.config import AuthSettings, Settings
from vetchart.domain.users import User
from vetchart.services.demo import DEMO_PASSWORD

API = "/api/v1"
PEER_ADDRESS = "203.0.113.10"
ALLOWED_ORIGIN = "https://app.vetchart.test"
STRONG_PASSWORD = "purple-otter-reads-maps-at-dawn"
OTHER_STRONG_PASSWORD = "glacier-pickle-trumpet-harbor-77"
ISSUER = "vetchart"
AUDIENCE = "vetchart-api"
# The fields of a problem document that legitimately differ between two requests.
PER_REQUEST_MEMBERS = {"request_id", "instance"}

ADMIN = "admin@vetchart.local"
RIVERSIDE_MANAGER = "manager@riverside.vetchart.local"
RIVERSIDE_VET = "vet@riverside.vetchart.local"
RIVERSIDE_TECH = "tech@riverside.vetchart.local"
HILLCREST_MANAGER = "manager@hillcrest.vetchart.local"
HILLCREST_VET = "vet@hillcrest.vetchart.local"
HILLCREST_TECH = "tech@hillcrest.vetchart.local"
OWNER = "owner@vetchart.local"
DEMO_EMAILS = (
    ADMIN,
    RIVERSIDE_MANAGER,
    RIVERSIDE_VET,
    RIVERSIDE_TECH,
    HILLCREST_MANAGER,
    HILLCREST_VET,
    HILLCREST_TECH,
    OWNER,
)

__all__ = ["DEMO_PASSWORD"]


def cheap_auth(**overrides: Any) -> AuthSettings:
    """Auth settings as in conftest.make_settings (cheap Argon2), with overrides."""
    values: dict[str, Any] = {
        "jwt_secret": TEST_JWT_SECRET,
        "argon2_time_cost": 1,
        "argon2_memory_kib": 8192,
        "argon2_parallelism": 1,
        "hash_worker_nice": 0,
    }
    values.update(overrides)
    return AuthSettings(**values)


def new_client(app: FastAPI, address: str = PEER_ADDRESS) -> AsyncClient:
    transport = ASGITransport(app=app, client=(address, 50000))
    return AsyncClient(transport=transport, base_url="http://testserver")


@asynccontextmanager
async def running_app(
    settings: Settings, database_url: str
) -> AsyncIterator[tuple[FastAPI, AsyncClient]]:
    """An app with its own settings (and container) on the given database."""
    application = create_app(settings, database_url=database_url)
    async with LifespanManager(application), new_client(application) as http:
        yield application, http


# --- users ------------------------------------------------------------------------------


async def seed_demo(app: FastAPI) -> dict[str, User]:
    """The demo identity data set; returns the demo users by email."""
    for seed in demo_seeders(app.state.container):
        await seed()
    found: dict[str, User] = {}
    async with app.state.container.uow() as uow:
        for email in DEMO_EMAILS:
            user = await uow.users.get_by_email(email)
            assert user is not None, email
            found[email] = user
    return found


async def get_user(app: FastAPI, email: str) -> User | None:
    container: Container = app.state.container
    async with container.uow() as uow:
        return await uow.users.get_by_email(email)


async def count_users(app: FastAPI) -> int:
    from sqlalchemy import func

    from vetchart.adapters.db.tables import users

    async with app.state.container.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(users)) or 0)


async def signup(
    client: AsyncClient, email: str, password: str = STRONG_PASSWORD, full_name: str = "Alex Morgan"
) -> Response:
    return await client.post(
        f"{API}/auth/signup", json={"email": email, "password": password, "full_name": full_name}
    )


# --- tokens -----------------------------------------------------------------------------


@dataclass
class Tokens:
    access: str
    refresh: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access)

    @property
    def session_id(self) -> UUID:
        return UUID(unverified_claims(self.access)["sid"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def login(client: AsyncClient, email: str, password: str = DEMO_PASSWORD) -> Response:
    return await client.post(
        f"{API}/auth/token",
        data={"username": email, "password": password, "grant_type": "password"},
    )


async def login_ok(client: AsyncClient, email: str, password: str = DEMO_PASSWORD) -> Tokens:
    response = await login(client, email, password)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "access_token" in body, body
    return Tokens(body["access_token"], body["refresh_token"])


async def refresh(client: AsyncClient, refresh_token: str) -> Response:
    return await client.post(f"{API}/auth/refresh", json={"refresh_token": refresh_token})


async def me(client: AsyncClient, access_token: str) -> Response:
    return await client.get(f"{API}/users/me", headers=bearer(access_token))


def unverified_claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def b64url(data: bytes | Mapping[str, Any]) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def access_claims(user_id: UUID, session_id: UUID, role: str, **overrides: Any) -> dict[str, Any]:
    """Claims of a well-formed access token for this session (overrides replace them)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(user_id),
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": "a" * 32,
        "sid": str(session_id),
        "role": role,
    }
    claims.update(overrides)
    return claims


def sign(
    claims: Mapping[str, Any],
    *,
    secret: str = TEST_JWT_SECRET,
    algorithm: str = "HS256",
    headers: Mapping[str, Any] | None = None,
) -> str:
    """A JWT signed with ``secret``; by default the header is that of a real access token."""
    header: dict[str, Any] = {"kid": key_id(secret), "typ": "at+jwt"}
    header.update(headers or {})
    if header.get("kid") is None:
        header.pop("kid", None)
    # typ=None makes PyJWT leave the typ header out (else it writes "JWT").
    return jwt.encode(dict(claims), secret, algorithm=algorithm, headers=header)


def jwt_tokens(secret: str = TEST_JWT_SECRET) -> JwtTokens:
    return JwtTokens(
        active_secret=secret,
        previous_secrets=[],
        issuer=ISSUER,
        audience=AUDIENCE,
        access_ttl=timedelta(minutes=15),
        mfa_ttl=timedelta(minutes=5),
    )


def utcnow() -> datetime:
    return datetime.now(UTC)


# --- problems ---------------------------------------------------------------------------


def problem_type(response: Response) -> str:
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    return str(response.json()["type"])


def same_problem(a: Response, b: Response) -> None:
    """Same status, headers that matter and body, except the per-request members."""
    assert a.status_code == b.status_code, (a.status_code, b.status_code)
    body_a = {k: v for k, v in a.json().items() if k not in PER_REQUEST_MEMBERS}
    body_b = {k: v for k, v in b.json().items() if k not in PER_REQUEST_MEMBERS}
    assert body_a == body_b
    assert a.headers.get("www-authenticate") == b.headers.get("www-authenticate")


# --- audit ------------------------------------------------------------------------------


async def audit_rows(app: FastAPI, action: str | None = None) -> list[dict[str, Any]]:
    query = select(audit_events).order_by(audit_events.c.occurred_at, audit_events.c.id)
    if action is not None:
        query = query.where(audit_events.c.action == action)
    async with app.state.container.engine.connect() as conn:
        return [dict(row) for row in (await conn.execute(query)).mappings()]


# --- TOTP -------------------------------------------------------------------------------


class TotpDevice:
    """An authenticator app: never hands out a code for a time step it already used.

    The server accepts the previous, current and next 30-second step, each at most once;
    asking for a code returns the one for the current step, or the next step when the
    current one is spent, so a test can use two codes in a row without waiting."""

    def __init__(self, secret: str) -> None:
        self.totp = pyotp.TOTP(secret)
        self._last_step: int | None = None

    @staticmethod
    def _step_now() -> int:
        return int(time.time()) // 30

    def code(self) -> str:
        step = self._step_now()
        if self._last_step is not None and step <= self._last_step:
            step = self._last_step + 1
        assert step <= self._step_now() + 1, "no usable TOTP step left; the test is too long"
        self._last_step = step
        return self.totp.generate_otp(step)

    def wrong_code(self) -> str:
        """A six-digit code valid for none of the steps the server would accept."""
        step = self._step_now()
        valid = {self.totp.generate_otp(s) for s in range(step - 2, step + 3)}
        candidate = 0
        while f"{candidate:06d}" in valid:
            candidate += 1
        return f"{candidate:06d}"
