"""Revision 0009 (association consent) on a database with data: which practice created
each existing owner is read from the pattern ``OwnerService.create`` wrote (a
``new_client`` association made in the owner's very instant, asked for by a staff user of
that practice), and the pending associations of the time (all asked for by owners) await
the practice."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from vetchart.adapters.db import migrate
from vetchart.adapters.db.engine import libpq_url

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def _ids(*names: str) -> dict[str, uuid.UUID]:
    return {name: uuid.uuid4() for name in names}


async def _seed(url: str, ids: dict[str, uuid.UUID]) -> None:
    conn = await asyncpg.connect(libpq_url(url))
    try:
        for practice in ("riverside", "hillcrest"):
            await conn.execute(
                "INSERT INTO practices (id, name, timezone, created_at, updated_at)"
                " VALUES ($1, $2, 'Europe/London', $3, $3)",
                ids[practice],
                practice,
                T0,
            )
        users = [
            ("river_tech", "VET_STAFF", ids["riverside"]),
            ("hill_vet", "VET", ids["hillcrest"]),
            ("owner_user", "PET_OWNER", None),
        ]
        for name, role, practice_id in users:
            await conn.execute(
                "INSERT INTO users (id, email, full_name, role, practice_id, password_hash,"
                " created_at, updated_at) VALUES ($1, $2, $2, $3, $4, 'x', $5, $5)",
                ids[name],
                f"{name}@example.com",
                role,
                practice_id,
                T0,
            )
        owners: list[tuple[str, datetime, uuid.UUID | None]] = [
            ("made_by_riverside", T0, None),
            ("self_made", T0, ids["owner_user"]),
            ("made_then_shared", T0 + timedelta(minutes=1), None),
            ("made_by_both", T0 + timedelta(minutes=2), None),
            ("linked_later", T0 + timedelta(minutes=3), None),
        ]
        for name, created_at, user_id in owners:
            await conn.execute(
                "INSERT INTO pet_owners (id, full_name, user_id, created_at, updated_at)"
                " VALUES ($1, $2, $3, $4, $4)",
                ids[name],
                name,
                user_id,
                created_at,
            )

        async def link(
            owner: str,
            practice: str,
            by: str,
            at: datetime,
            *,
            status: str = "approved",
            kind: str = "new_client",
        ) -> None:
            decided = None if status == "pending" else at
            await conn.execute(
                "INSERT INTO practice_associations (id, pet_owner_id, practice_id,"
                " request_type, status, requested_by, decided_by, decided_at, created_at,"
                " updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
                ids[f"{owner}@{practice}"],
                ids[owner],
                ids[practice],
                kind,
                status,
                ids[by],
                None if decided is None else ids[by],
                decided,
                at,
            )

        await link("made_by_riverside", "riverside", "river_tech", T0)
        await link("self_made", "riverside", "owner_user", T0, status="pending")
        await link("made_then_shared", "riverside", "river_tech", T0 + timedelta(minutes=1))
        await link(
            "made_then_shared", "hillcrest", "hill_vet", T0 + timedelta(minutes=5), kind="referral"
        )
        # Two practices in the owner's instant (as the demo seeding did): ambiguous.
        await link("made_by_both", "riverside", "river_tech", T0 + timedelta(minutes=2))
        await link("made_by_both", "hillcrest", "hill_vet", T0 + timedelta(minutes=2))
        # A staff link made after the owner was: not the creation pattern.
        await link("linked_later", "hillcrest", "hill_vet", T0 + timedelta(minutes=9))
    finally:
        await conn.close()


async def _fetch(url: str, query: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(libpq_url(url))
    try:
        return [dict(row) for row in await conn.fetch(query)]
    finally:
        await conn.close()


def test_0009_backfills_who_created_each_owner_and_whom_pending_links_await(
    empty_database_url: str,
) -> None:
    url = empty_database_url
    names = ["riverside", "hillcrest", "river_tech", "hill_vet", "owner_user"]
    owners = ["made_by_riverside", "self_made", "made_then_shared", "made_by_both", "linked_later"]
    ids = _ids(*names, *owners)
    ids |= _ids(
        "made_by_riverside@riverside",
        "self_made@riverside",
        "made_then_shared@riverside",
        "made_then_shared@hillcrest",
        "made_by_both@riverside",
        "made_by_both@hillcrest",
        "linked_later@hillcrest",
    )
    migrate.upgrade(url, "0008")
    asyncio.run(_seed(url, ids))

    migrate.upgrade(url, "0009")

    made_by = {
        row["id"]: row["created_by_practice_id"]
        for row in asyncio.run(_fetch(url, "SELECT id, created_by_practice_id FROM pet_owners"))
    }
    assert made_by == {
        ids["made_by_riverside"]: ids["riverside"],
        ids["self_made"]: None,
        ids["made_then_shared"]: ids["riverside"],
        ids["made_by_both"]: None,
        ids["linked_later"]: None,
    }
    awaiting = {
        row["id"]: row["awaiting"]
        for row in asyncio.run(_fetch(url, "SELECT id, awaiting FROM practice_associations"))
    }
    assert awaiting[ids["self_made@riverside"]] == "practice"
    assert {k for k, v in awaiting.items() if v is not None} == {ids["self_made@riverside"]}

    migrate.downgrade(url, "0008")
    columns = asyncio.run(
        _fetch(
            url,
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE column_name IN ('created_by_practice_id', 'awaiting')",
        )
    )
    assert columns == []
