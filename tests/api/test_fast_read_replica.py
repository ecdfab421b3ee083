"""With READ_DATABASE_URL set, the fast path's plain reads (a practice before its
appointments) go to the replica's pool, and its audited reads (which write their audit
row: records, pets, owners, appointments) stay on the primary."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from tests.api.auth_helpers import API, RIVERSIDE_VET, login_ok, seed_demo
from tests.conftest import make_settings
from vetchart.api.app import create_app
from vetchart.config import DatabaseSettings


@pytest.fixture
async def replica_app(database_url: str) -> AsyncIterator[FastAPI]:
    # The "replica" is the same database (its own pools): what is checked is which pool
    # each read uses, not replication.
    replica_url = database_url
    settings = make_settings(
        database_url,
        # By their environment names: the fields only take values under those aliases.
        database=DatabaseSettings(
            **{"DATABASE_URL": database_url, "READ_DATABASE_URL": replica_url},
            pool_size=5,
            max_overflow=5,
        ),
    )
    app = create_app(settings, database_url=database_url)
    async with LifespanManager(app):
        yield app


async def test_plain_fast_reads_use_the_replica_and_audited_ones_the_primary(
    replica_app: FastAPI,
) -> None:
    container = replica_app.state.container
    assert container.fast_read_pool is not container.fast_pool
    await seed_demo(replica_app)
    transport = ASGITransport(app=replica_app, client=("203.0.113.10", 50000))
    async with AsyncClient(transport=transport, base_url="http://testserver") as client:
        vet = (await login_ok(client, RIVERSIDE_VET)).headers
        primary: list[str] = []
        replica: list[str] = []
        container.fast_pool.observe(primary.append)
        container.fast_read_pool.observe(replica.append)
        # A practice's appointments: the practice (a plain read) on the replica, the
        # audited page (its read and its audit row) on the primary.
        me = (await client.get(f"{API}/users/me", headers=vet)).json()
        url = f"{API}/practices/{me['practice_id']}/appointments"
        assert (await client.get(url, headers=vet)).status_code == 200
        assert len(replica) == 1
        assert "FROM practices" in replica[0]
        assert len(primary) == 2, "the audited page and its audit row went to the primary"
        # Pets are audited reads now (issue 13 item 7): the primary only.
        pets = await client.get(f"{API}/pets", params={"limit": 1}, headers=vet)
        assert pets.status_code == 200
        pet = pets.json()["items"][0]
        assert (await client.get(f"{API}/pets/{pet['id']}", headers=vet)).status_code == 200
        listed = await client.get(f"{API}/pets/{pet['id']}/medical-records", headers=vet)
        assert listed.status_code == 200
        assert len(replica) == 1, "the audited reads did not touch the replica"
        assert len(primary) == 8, "their reads and audit rows went to the primary"
