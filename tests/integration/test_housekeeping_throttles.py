"""Housekeeping forgets sign-in throttle keys that stayed idle past their retention.

Every failed sign-in from a new (account, address) pair, and every spray of unknown names,
leaves a `login_throttles` row; without a purge the table only grows. A key is dropped
once idle longer than what it remembers (known-address records, a lock's level), never
while it holds a lock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
from fastapi import FastAPI

from vetchart.adapters.db.engine import libpq_url


async def test_idle_unlocked_throttle_keys_are_purged_and_the_rest_kept(
    app: FastAPI, database_url: str
) -> None:
    now = datetime.now(UTC)
    rows = {
        "login:idle@example.test|198.51.100.1": (now - timedelta(days=40), None),
        "login:locked@example.test|198.51.100.2": (
            now - timedelta(days=40),
            now + timedelta(hours=1),
        ),
        "login:lock-ended@example.test|198.51.100.3": (
            now - timedelta(days=40),
            now - timedelta(days=39),
        ),
        "login:recent@example.test|198.51.100.4": (now - timedelta(days=2), None),
        "login-known:00000000-0000-0000-0000-000000000001|198.51.100.5": (
            now - timedelta(days=20),
            None,
        ),
    }
    conn = await asyncpg.connect(libpq_url(database_url))
    try:
        for key, (updated_at, locked_until) in rows.items():
            await conn.execute(
                "INSERT INTO login_throttles (key, failure_count, window_started_at,"
                " locked_until, lockout_level, updated_at) VALUES ($1, 3, $2, $3, 1, $2)",
                key,
                updated_at,
                locked_until,
            )
        done = await app.state.container.housekeeping.run()
        left = {row["key"] for row in await conn.fetch("SELECT key FROM login_throttles")}
    finally:
        await conn.close()
    assert done["throttle_keys"] == 2
    assert left == {
        "login:locked@example.test|198.51.100.2",
        "login:recent@example.test|198.51.100.4",
        "login-known:00000000-0000-0000-0000-000000000001|198.51.100.5",
    }
