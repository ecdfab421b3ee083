"""`vetchart audit verify` and `audit checkpoint`: walk every audit chain and report the
first broken link; read the chain heads for a signed checkpoint, and the entries a
checkpoint pins."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine

from vetchart.adapters.db.rows import columns_for
from vetchart.adapters.db.tables import audit_chains, audit_events
from vetchart.domain.audit import (
    AuditKey,
    BrokenLink,
    ChainedRow,
    ChainHead,
    ChainVerifier,
    Checkpoint,
    check_against_checkpoint,
)

_HASHED = columns_for(audit_events, ChainedRow)


@dataclass
class VerifyReport:
    checked: int = 0
    chains: int = 0
    broken: list[BrokenLink] = field(default_factory=list)
    # Checkpoints taken on a database of another name (a restore, or the wrong file).
    other_databases: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.broken


async def verify_audit_chains(
    engine: AsyncEngine,
    key: AuditKey,
    *,
    against: Sequence[Checkpoint] = (),
    batch_size: int = 5000,
) -> VerifyReport:
    """Every chain in ``seq`` order (streamed, constant memory), each entry's hash checked
    under ``key``. A chain stops at its first broken link, which is reported; the other
    chains are still checked. ``against``: also every head of those checkpoints must
    still be in its chain with the same hash (a chain rewritten after one is caught even
    when its hashes were recomputed under the key)."""
    report = VerifyReport()
    async with engine.connect() as conn:
        database = str((await conn.execute(select(func.current_database()))).scalar_one())
    for checkpoint in against:
        if checkpoint.database != database:
            report.other_databases.append(checkpoint.database)
        report.broken.extend(
            check_against_checkpoint(checkpoint, await _hashes_at(engine, checkpoint))
        )
    async with engine.connect() as conn:
        heads = (await conn.execute(select(audit_chains).order_by(audit_chains.c.chain))).all()
        for head in heads:
            report.chains += 1
            verifier = ChainVerifier(head.chain, key)
            broken: BrokenLink | None = None
            result = await conn.stream(
                select(*_HASHED, audit_events.c.prev_hash, audit_events.c.hash)
                .where(audit_events.c.chain == head.chain)
                .order_by(audit_events.c.seq)
                .execution_options(yield_per=batch_size)
            )
            async for row in result:
                values = row._asdict()
                stored_prev, stored_hash = values.pop("prev_hash"), values.pop("hash")
                broken = verifier.check(ChainedRow(**values), stored_prev, stored_hash)
                if broken is not None:
                    await result.close()
                    break
            if broken is None:
                broken = verifier.check_head(head.seq, head.hash)
            report.checked += verifier.checked
            if broken is not None:
                report.broken.append(broken)
    return report


async def _hashes_at(engine: AsyncEngine, checkpoint: Checkpoint) -> dict[tuple[int, int], bytes]:
    wanted = [(head.chain, head.seq) for head in checkpoint.heads if head.seq > 0]
    if not wanted:
        return {}
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(audit_events.c.chain, audit_events.c.seq, audit_events.c.hash).where(
                tuple_(audit_events.c.chain, audit_events.c.seq).in_(wanted)
            )
        )
        return {(row.chain, row.seq): row.hash for row in rows}


async def read_checkpoint(engine: AsyncEngine) -> Checkpoint:
    """The heads of every chain now, in one consistent snapshot, made durable first: the
    fast path commits read audit rows without waiting for the WAL flush, and a head that
    a crash then loses would make this checkpoint cry "rewritten" for ever after. A
    transaction with an id, committed with ``synchronous_commit = on``, flushes the WAL up
    to its commit, which is after every commit the snapshot saw."""
    async with engine.connect() as conn:
        database = (await conn.execute(select(func.current_database()))).scalar_one()
        now: datetime = (await conn.execute(select(func.now()))).scalar_one()
        heads = (await conn.execute(select(audit_chains).order_by(audit_chains.c.chain))).all()
    async with engine.begin() as conn:
        await conn.execute(text("SET LOCAL synchronous_commit = on"))
        await conn.execute(text("SELECT pg_catalog.txid_current()"))
    return Checkpoint(
        created_at=now,
        database=str(database),
        heads=tuple(ChainHead(row.chain, row.seq, row.hash) for row in heads),
    )
