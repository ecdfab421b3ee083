"""The migrations on a database that holds data: the whole demo data set (practices, users,
owners, pets, versioned records, appointments, visits, the knowledge base, audit chains)
goes down to the revision before the consent and least-privilege changes and back up to
the head with every row kept, the audit chains still verifying under the key, and the
backfills of revision 0009 giving every demo owner the practice that created them.

Plain sync test: ``migrate`` runs its own event loop.
"""

from __future__ import annotations

import asyncio

import asyncpg
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import make_settings
from vetchart.adapters.db import migrate
from vetchart.adapters.db.audit_verify import VerifyReport, verify_audit_chains
from vetchart.adapters.db.engine import async_url, libpq_url
from vetchart.domain.audit import AuditKey
from vetchart.entrypoints import demo

# The last revision before association consent (0009) and the keyed chain (0010).
BEFORE = "0008"
KEY = "the-key-of-the-demo-deployment-0123456789abcdef"

# Every table of the demo data whose rows must survive, with its row count compared.
TABLES = (
    "practices",
    "users",
    "pet_owners",
    "practice_associations",
    "pets",
    "medical_records",
    "medical_record_events",
    "appointments",
    "visits",
    "kb_documents",
    "kb_chunks",
    "audit_events",
    "audit_chains",
)


async def _snapshot(url: str) -> dict[str, object]:
    conn = await asyncpg.connect(libpq_url(url))
    try:
        counts = {table: await conn.fetchval(f"SELECT count(*) FROM {table}") for table in TABLES}
        # Content, not only counts: every record version's data and every audit hash.
        versions = await conn.fetchval(
            "SELECT md5(string_agg(record_id::text || ':' || version::text || ':'"
            " || snapshot::text, ',' ORDER BY record_id, version)) FROM medical_record_events"
        )
        pets = await conn.fetchval(
            "SELECT md5(string_agg(id::text || name || owner_id::text, ',' ORDER BY id)) FROM pets"
        )
        # Re-sealing is deterministic: down (plain hashes) and up (keyed) gives them back.
        hashes = await conn.fetchval(
            "SELECT md5(string_agg(encode(hash, 'hex'), ',' ORDER BY chain, seq)) FROM audit_events"
        )
        return {"counts": counts, "versions": versions, "pets": pets, "hashes": hashes}
    finally:
        await conn.close()


async def _attribution(url: str) -> dict[str, tuple[str | None, bool]]:
    """Each owner's creating practice, and whether the backfill must leave it unnamed: the
    owner has an account of their own, or more than one practice linked them at once."""
    conn = await asyncpg.connect(libpq_url(url))
    try:
        rows = await conn.fetch(
            "SELECT o.id::text, o.created_by_practice_id::text AS made_by,"
            " o.user_id IS NOT NULL OR (SELECT count(*) FROM practice_associations a"
            "   WHERE a.pet_owner_id = o.id AND a.created_at = o.created_at) > 1 AS ambiguous"
            " FROM pet_owners o"
        )
        return {row["id"]: (row["made_by"], row["ambiguous"]) for row in rows}
    finally:
        await conn.close()


async def _verify(url: str) -> VerifyReport:
    engine = create_async_engine(async_url(url))
    try:
        return await verify_audit_chains(engine, AuditKey(KEY.encode()))
    finally:
        await engine.dispose()


def test_demo_data_goes_down_and_up_the_migrations_unchanged(empty_database_url: str) -> None:
    url = empty_database_url
    migrate.upgrade(url, "head", audit_key=KEY)
    settings = make_settings(url, audit={"key": KEY})
    asyncio.run(demo.seed(settings, url))

    before = asyncio.run(_snapshot(url))
    counts = before["counts"]
    assert isinstance(counts, dict)
    empty = [table for table, count in counts.items() if not count]
    assert not empty, f"the demo data left these tables empty: {empty}"
    report = asyncio.run(_verify(url))
    assert report.ok, report
    assert report.checked == counts["audit_events"]
    made_by = asyncio.run(_attribution(url))
    assert any(practice for practice, _ in made_by.values()), "no demo owner made by staff"

    migrate.downgrade(url, BEFORE, audit_key=KEY)
    down = asyncio.run(_snapshot(url))
    # Below 0010 the chains are plain SHA-256 again: every row kept, every hash changed.
    assert down["hashes"] != before["hashes"]
    assert {**down, "hashes": None} == {**before, "hashes": None}
    migrate.upgrade(url, "head", audit_key=KEY)

    assert asyncio.run(_snapshot(url)) == before
    report = asyncio.run(_verify(url))
    assert report.ok, report
    assert report.checked == counts["audit_events"]
    # 0009's backfill gives back the creating practice of every owner one practice made,
    # and never names a practice the application did not record: an owner with an
    # account, or linked by two practices at once, is left unnamed (stricter, not looser).
    backfilled = asyncio.run(_attribution(url))
    assert backfilled.keys() == made_by.keys()
    assert any(ambiguous for _, ambiguous in made_by.values()), "the demo has no such owner"
    for owner, (practice, ambiguous) in made_by.items():
        expected = (None, True) if ambiguous else (practice, False)
        assert backfilled[owner] == expected, owner

    # The application runs on the result: the demo seed finds everything in place.
    asyncio.run(demo.seed(settings, url))
    after = asyncio.run(_snapshot(url))
    assert isinstance(after["counts"], dict)
    assert {
        t: c for t, c in after["counts"].items() if t not in ("audit_events", "audit_chains")
    } == {t: c for t, c in counts.items() if t not in ("audit_events", "audit_chains")}
