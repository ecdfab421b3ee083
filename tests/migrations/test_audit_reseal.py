"""Revision 0010 re-seals an existing audit chain under the audit key.

A database of the earlier format (plain SHA-256 chains) with entries in it: the upgrade
verifies every chain under the old hashes, then recomputes them as HMAC-SHA-256 under the
key it is given; the downgrade goes back. A chain already broken stops the upgrade
(re-sealing it would launder the tampering). Plain sync tests: ``migrate`` runs its own
event loop.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from vetchart.adapters.db import migrate
from vetchart.adapters.db.audit_verify import verify_audit_chains
from vetchart.adapters.db.engine import async_url, libpq_url
from vetchart.adapters.db.safety import audit_key_fingerprint
from vetchart.domain.audit import AuditKey, ChainedRow, legacy_chain_hash

BEFORE = "0009"
KEY = "the-key-of-this-deployment-0123456789abcdef"


async def _legacy_entries(url: str, per_chain: dict[int, int]) -> None:
    """Entries hashed the way revisions 0006 to 0009 hashed them, heads moved to match."""
    conn = await asyncpg.connect(libpq_url(url))
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    try:
        start = datetime(2026, 11, 1, tzinfo=UTC)
        for chain, count in per_chain.items():
            previous = bytes(32)
            for seq in range(1, count + 1):
                row = ChainedRow(
                    id=uuid.uuid4(),
                    occurred_at=start + timedelta(minutes=seq),
                    actor_id=None,
                    actor_role="VET",
                    practice_id=None,
                    pet_id=None,
                    action="medical_record.read",
                    resource_type="medical_record",
                    resource_id=str(seq),
                    outcome="success",
                    request_id=f"req-{chain}-{seq}",
                    client_address="203.0.113.5",
                    user_agent=None,
                    details={"seq": seq, "note": "ünïcode"},
                    chain=chain,
                    seq=seq,
                )
                digest = legacy_chain_hash(previous, row)
                await conn.execute(
                    "INSERT INTO audit_events (id, occurred_at, actor_role, action,"
                    " resource_type, resource_id, outcome, request_id, client_address,"
                    " details, chain, seq, prev_hash, hash)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                    row.id,
                    row.occurred_at,
                    row.actor_role,
                    row.action,
                    row.resource_type,
                    row.resource_id,
                    row.outcome,
                    row.request_id,
                    row.client_address,
                    row.details,
                    chain,
                    seq,
                    previous,
                    digest,
                )
                previous = digest
            await conn.execute(
                "UPDATE audit_chains SET seq = $1, hash = $2 WHERE chain = $3",
                count,
                previous,
                chain,
            )
    finally:
        await conn.close()


async def _verify(url: str, key: AuditKey) -> list[str]:
    engine = create_async_engine(async_url(url))
    try:
        report = await verify_audit_chains(engine, key)
        return [f"{link.chain}:{link.seq}:{link.reason}" for link in report.broken]
    finally:
        await engine.dispose()


async def _fingerprint(url: str) -> bytes | None:
    conn = await asyncpg.connect(libpq_url(url))
    try:
        value = await conn.fetchval("SELECT fingerprint FROM audit_key_fingerprint")
        return None if value is None else bytes(value)
    finally:
        await conn.close()


def test_an_empty_database_leaves_the_key_to_the_first_process(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url, "head", audit_key=KEY)
    assert asyncio.run(_fingerprint(empty_database_url)) is None


def test_the_upgrade_reseals_a_legacy_chain_under_the_key_and_back(
    empty_database_url: str,
) -> None:
    url = empty_database_url
    migrate.upgrade(url, BEFORE)
    asyncio.run(_legacy_entries(url, {0: 5, 7: 3}))

    migrate.upgrade(url, "head", audit_key=KEY)
    assert asyncio.run(_verify(url, AuditKey(KEY.encode()))) == []
    # The database remembers which key (a process with another one will not start).
    assert asyncio.run(_fingerprint(url)) == audit_key_fingerprint(AuditKey(KEY.encode()))
    # Under any other key (the development default, say) the chain does not verify.
    assert len(asyncio.run(_verify(url, AuditKey(b"some-other-key-" * 3)))) == 2

    migrate.downgrade(url, BEFORE, audit_key=KEY)
    migrate.upgrade(url, "head", audit_key=KEY)
    assert asyncio.run(_verify(url, AuditKey(KEY.encode()))) == []


def test_the_upgrade_refuses_to_reseal_a_broken_chain(empty_database_url: str) -> None:
    url = empty_database_url
    migrate.upgrade(url, BEFORE)
    asyncio.run(_legacy_entries(url, {3: 4}))

    async def tamper() -> None:
        conn = await asyncpg.connect(libpq_url(url))
        try:
            await conn.execute("ALTER TABLE audit_events DISABLE TRIGGER USER")
            await conn.execute(
                "UPDATE audit_events SET outcome = 'denied' WHERE chain = 3 AND seq = 2"
            )
        finally:
            await conn.close()

    asyncio.run(tamper())
    with pytest.raises(RuntimeError, match="chain 3 is broken at entry 2"):
        migrate.upgrade(url, "head", audit_key=KEY)
