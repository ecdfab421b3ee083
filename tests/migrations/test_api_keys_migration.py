"""Revision 0016 (API keys): up makes the table with its constraints (one row per public
id, a SHA-256-sized digest, at least one scope), down removes it and nothing else."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from vetchart.adapters.db import migrate
from vetchart.adapters.db.engine import libpq_url

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


async def _scalar(url: str, query: str) -> object:
    conn = await asyncpg.connect(libpq_url(url))
    try:
        return await conn.fetchval(query)
    finally:
        await conn.close()


async def _insert_keys(url: str) -> list[str]:
    """Insert a good key, then try the rows the constraints refuse; the refused
    constraints' names."""
    conn = await asyncpg.connect(libpq_url(url))
    practice, admin = uuid.uuid4(), uuid.uuid4()
    refused: list[str] = []
    try:
        await conn.execute(
            "INSERT INTO practices (id, name, timezone, created_at, updated_at)"
            " VALUES ($1, 'Riverside', 'Europe/London', $2, $2)",
            practice,
            T0,
        )
        await conn.execute(
            "INSERT INTO users (id, email, full_name, role, practice_id, password_hash,"
            " created_at, updated_at) VALUES ($1, 'a@example.com', 'A', 'PRACTICE_ADMIN',"
            " $2, 'x', $3, $3)",
            admin,
            practice,
            T0,
        )
        insert = (
            "INSERT INTO api_keys (id, practice_id, public_id, name, secret_hash, scopes,"
            " created_by, created_at) VALUES ($1, $2, $3, 'k', $4, $5, $6, $7)"
        )
        digest = hashlib.sha256(b"secret").digest()
        await conn.execute(
            insert, uuid.uuid4(), practice, "p" * 16, digest, ["pet.read"], admin, T0
        )
        bad_rows = [
            ("p" * 16, digest, ["pet.read"]),  # the same public id
            ("q" * 16, b"short", ["pet.read"]),  # not a SHA-256 digest
            ("r" * 16, digest, []),  # no scope
        ]
        for public_id, secret_hash, scopes in bad_rows:
            with pytest.raises(asyncpg.IntegrityConstraintViolationError) as error:
                await conn.execute(
                    insert, uuid.uuid4(), practice, public_id, secret_hash, scopes, admin, T0
                )
            refused.append(error.value.constraint_name or "")
    finally:
        await conn.close()
    return refused


def test_0016_up_and_down(empty_database_url: str) -> None:
    url = empty_database_url
    exists = "SELECT to_regclass('api_keys') IS NOT NULL"
    migrate.upgrade(url, "0015")
    assert asyncio.run(_scalar(url, exists)) is False

    migrate.upgrade(url, "0016")
    assert asyncio.run(_scalar(url, exists)) is True
    index = "SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_api_keys_practice_id_created_at'"
    assert asyncio.run(_scalar(url, index)) == 1
    assert asyncio.run(_insert_keys(url)) == [
        "uq_api_keys_public_id",
        "ck_api_keys_secret_hash_sha256",
        "ck_api_keys_scopes_not_empty",
    ]

    migrate.downgrade(url, "0015")
    assert asyncio.run(_scalar(url, exists)) is False
    assert asyncio.run(_scalar(url, "SELECT version_num FROM alembic_version")) == "0015"
