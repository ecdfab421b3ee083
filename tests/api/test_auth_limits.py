"""Rate limits (429, Retry-After, RateLimit-* headers), the client address behind proxies,
and CORS preflights."""

from __future__ import annotations

from fastapi import FastAPI
from httpx import AsyncClient

from tests.api.auth_helpers import (
    ALLOWED_ORIGIN,
    API,
    DEMO_PASSWORD,
    OWNER,
    RIVERSIDE_VET,
    login,
    login_ok,
    new_client,
    running_app,
    seed_demo,
)
from tests.conftest import make_settings
from vetchart.config import RateLimitSettings, ServerSettings

RATE_HEADERS = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")


async def test_login_limit_answers_429_with_retry_after_and_ratelimit_headers(database_url: str):
    settings = make_settings(
        database_url, rate_limit=RateLimitSettings(login="3/minute", default="5/minute")
    )
    async with running_app(settings, database_url) as (app, client):
        await seed_demo(app)
        ok = await login(client, OWNER)
        assert ok.status_code == 200
        assert ok.headers["ratelimit-limit"] == "3"
        assert ok.headers["ratelimit-remaining"] == "2"
        assert 0 <= int(ok.headers["ratelimit-reset"]) <= 60
        assert (await login(client, OWNER, "a-wrong-password-here")).status_code == 401
        assert (await login(client, "ghost@example.com", "a-wrong-password")).status_code == 401

        limited = await login(client, OWNER)
        assert limited.status_code == 429, limited.text
        assert limited.headers["content-type"].startswith("application/problem+json")
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert limited.headers["ratelimit-limit"] == "3"
        assert limited.headers["ratelimit-remaining"] == "0"
        assert 0 <= int(limited.headers["ratelimit-reset"]) <= 60
        assert "access_token" not in limited.text

        # The limit is per client address: another address still signs in.
        async with new_client(app, "198.51.100.7") as elsewhere:
            tokens = await login_ok(elsewhere, OWNER)

        # Authenticated endpoints carry the per-user limit's headers...
        remaining = []
        for _ in range(5):
            response = await client.get(f"{API}/users/me", headers=tokens.headers)
            assert response.status_code == 200
            assert all(name in response.headers for name in RATE_HEADERS), response.headers
            assert response.headers["ratelimit-limit"] == "5"
            remaining.append(int(response.headers["ratelimit-remaining"]))
        assert remaining == [4, 3, 2, 1, 0]
        # ...and answer 429 past it, whatever the address.
        limited = await client.get(f"{API}/users/me", headers=tokens.headers)
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.headers["ratelimit-remaining"] == "0"


async def test_signup_limit_is_per_address(database_url: str):
    settings = make_settings(database_url, rate_limit=RateLimitSettings(signup="2/minute"))
    async with running_app(settings, database_url) as (app, client):
        bodies = [
            {
                "email": f"person{n}@example.com",
                "password": "quiet-harbor-lamp-91",
                "full_name": "P",
            }
            for n in range(4)
        ]
        assert (await client.post(f"{API}/auth/signup", json=bodies[0])).status_code == 201
        assert (await client.post(f"{API}/auth/signup", json=bodies[1])).status_code == 201
        limited = await client.post(f"{API}/auth/signup", json=bodies[2])
        assert limited.status_code == 429
        assert "retry-after" in limited.headers
        async with new_client(app, "198.51.100.8") as elsewhere:
            response = await elsewhere.post(f"{API}/auth/signup", json=bodies[3])
            assert response.status_code == 201


async def test_spoofed_forwarded_for_does_not_reset_the_address_limit(database_url: str):
    limits = RateLimitSettings(login="3/minute")
    untrusted = make_settings(database_url, rate_limit=limits)
    async with running_app(untrusted, database_url) as (app, client):
        await seed_demo(app)
        statuses = []
        for n in range(4):
            response = await client.post(
                f"{API}/auth/token",
                data={"username": RIVERSIDE_VET, "password": DEMO_PASSWORD},
                headers={"X-Forwarded-For": f"192.0.2.{n + 1}", "X-Real-IP": f"192.0.2.{n + 1}"},
            )
            statuses.append(response.status_code)
        assert statuses == [200, 200, 200, 429]

    # The control: when the peer is a configured trusted proxy, its X-Forwarded-For names
    # the client, so each forwarded address has a limit of its own.
    trusted = make_settings(
        database_url,
        rate_limit=limits,
        server=ServerSettings(trusted_proxies=["203.0.113.0/24"]),
    )
    async with running_app(trusted, database_url) as (_app, client):
        statuses = []
        for n in range(4):
            response = await client.post(
                f"{API}/auth/token",
                data={"username": RIVERSIDE_VET, "password": DEMO_PASSWORD},
                headers={"X-Forwarded-For": f"198.51.100.77, 192.0.2.{n + 1}"},
            )
            statuses.append(response.status_code)
        assert statuses == [200, 200, 200, 200]
        # A client cannot hide behind a forged left-most entry: the right-most untrusted
        # hop is the one the proxy saw.
        for _ in range(3):
            response = await client.post(
                f"{API}/auth/token",
                data={"username": RIVERSIDE_VET, "password": DEMO_PASSWORD},
                headers={"X-Forwarded-For": "10.9.9.9, 192.0.2.200"},
            )
        forged = await client.post(
            f"{API}/auth/token",
            data={"username": RIVERSIDE_VET, "password": DEMO_PASSWORD},
            headers={"X-Forwarded-For": "10.1.1.1, 192.0.2.200"},
        )
        assert forged.status_code == 429


async def test_cors_preflight_from_an_allowed_and_a_refused_origin(
    app: FastAPI, client: AsyncClient
):
    request_headers = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    allowed = await client.options(
        f"{API}/auth/token", headers={"Origin": ALLOWED_ORIGIN, **request_headers}
    )
    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert allowed.headers["access-control-allow-credentials"] == "true"
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()

    refused = await client.options(
        f"{API}/auth/token", headers={"Origin": "https://evil.example", **request_headers}
    )
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers

    # Actual requests: the allowed origin may read the response (and its rate-limit and
    # request-id headers); another origin gets no CORS headers at all.
    await seed_demo(app)
    ok = await client.post(
        f"{API}/auth/token",
        data={"username": OWNER, "password": DEMO_PASSWORD},
        headers={"Origin": ALLOWED_ORIGIN},
    )
    assert ok.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    exposed = ok.headers["access-control-expose-headers"].lower()
    for name in ("retry-after", "ratelimit-remaining", "x-request-id"):
        assert name in exposed
    evil = await client.post(
        f"{API}/auth/token",
        data={"username": OWNER, "password": DEMO_PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    assert "access-control-allow-origin" not in evil.headers
