"""Pooled connections the server has closed are replaced, not handed to a request.

The engine no longer pings before every transaction (adapters/db/engine.py): a
connection asyncpg knows to be closed is dropped at checkout instead. The fast-path pool
(adapters/db/pg.py) retries a read on a lost connection. Here every backend of the
app is terminated by the server between two requests, and both kinds of request still
succeed.
"""

from __future__ import annotations

import asyncio

import asyncpg
from fastapi import FastAPI
from httpx import AsyncClient

from tests.api.auth_helpers import API, RIVERSIDE_VET, login_ok, seed_demo
from vetchart.adapters.db.engine import libpq_url

# Long enough for the event loop to read each terminated connection's end of stream.
SETTLE_SECONDS = 0.3


async def _terminate_app_backends(database_url: str) -> int:
    conn = await asyncpg.connect(libpq_url(database_url))
    try:
        rows = await conn.fetch(
            "SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity "
            "WHERE application_name LIKE 'vetchart-api%' AND pid <> pg_backend_pid()"
            # This test's app only: other xdist workers' apps share the server.
            " AND datname = current_database()"
        )
    finally:
        await conn.close()
    return sum(1 for row in rows if row["done"])


async def test_requests_succeed_after_the_server_closed_every_pooled_connection(
    app: FastAPI, client: AsyncClient, database_url: str
) -> None:
    await seed_demo(app)
    vet = (await login_ok(client, RIVERSIDE_VET)).headers
    pet = (await client.get(f"{API}/pets", params={"limit": 1}, headers=vet)).json()["items"][0]
    listed = await client.get(f"{API}/pets/{pet['id']}/medical-records", headers=vet)
    record = listed.json()["items"][0]
    current = await client.get(f"{API}/medical-records/{record['id']}", headers=vet)
    assert current.status_code == 200

    terminated = await _terminate_app_backends(database_url)
    assert terminated >= 2, "both pools had connections to lose"
    await asyncio.sleep(SETTLE_SECONDS)

    amended = await client.patch(
        f"{API}/medical-records/{record['id']}",
        json={"diagnosis": "Checked after a database restart"},
        headers={**vet, "If-Match": current.headers["etag"]},
    )
    assert amended.status_code == 200, amended.text
    assert amended.json()["diagnosis"] == "Checked after a database restart"
    again = await client.get(f"{API}/pets/{pet['id']}/medical-records", headers=vet)
    assert again.status_code == 200, again.text
    assert again.json()["items"][0]["id"]
