"""The audit log writer: entries are queued and appended to a hash chain at commit.

Each unit of work appends all its entries to one chain, picked at random among
``AUDIT_CHAINS``. The chain's head row is locked by the first of the two statements below
(``audit_lock_head``, a SECURITY DEFINER function: the application may read the heads
table but not update or lock it itself) and released by the commit right after, so two
transactions only wait for each other when they pick the same chain, and then only for a
commit. The second statement inserts the rows, hashed here under the audit key; a
trigger (SECURITY DEFINER too) moves the head along with each row and refuses a row that
does not extend the head (migration r0010).
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from vetchart.adapters.db.statements import bound, insert_one, multi_row_insert
from vetchart.adapters.db.tables import audit_events
from vetchart.domain.audit import (
    AUDIT_CHAINS,
    AuditEntry,
    AuditKey,
    ChainedRow,
    RequestMeta,
    chain_hash,
)
from vetchart.services.ports.system import Clock, IdGenerator

# Lock a chain's head and read it (the last lock a unit of work takes: no cycles).
LOCK_HEAD_SQL = "SELECT seq, hash FROM audit_lock_head(CAST(:locked_chain AS smallint))"


class SqlAuditLog:
    def __init__(self, clock: Clock, ids: IdGenerator, key: AuditKey) -> None:
        self._clock = clock
        self._ids = ids
        self._key = key
        self._pending: list[dict[str, Any]] = []

    def record(self, entry: AuditEntry, meta: RequestMeta) -> None:
        self._pending.append(audit_row(entry, meta, self._clock, self._ids))

    def discard(self) -> None:
        self._pending.clear()

    async def flush(self, session: AsyncSession) -> None:
        if not self._pending:
            return
        rows, self._pending = self._pending, []
        chain = secrets.randbelow(AUDIT_CHAINS)
        head = (await session.execute(_LOCK_HEAD, {"locked_chain": chain})).one()
        chain_rows(rows, chain, head.seq, head.hash, self._key)
        # The rows' trigger moves the head (the application cannot update it).
        if len(rows) == 1:
            await session.execute(_append_one(tuple(rows[0])), bound(rows[0], "a_"))
            return
        await session.execute(multi_row_insert(audit_events, rows))


_LOCK_HEAD = text(LOCK_HEAD_SQL)


@lru_cache(maxsize=4)
def _append_one(columns: tuple[str, ...]) -> Any:
    return insert_one(audit_events, columns, "a_")


def audit_row(
    entry: AuditEntry, meta: RequestMeta, clock: Clock, ids: IdGenerator
) -> dict[str, Any]:
    """The stored fields of one audit row, before its place in a chain is known."""
    return {
        "id": ids.new_id(),
        "occurred_at": clock.now(),
        "actor_id": entry.actor_id,
        "actor_role": entry.actor_role,
        "practice_id": entry.practice_id,
        "pet_id": entry.pet_id,
        "action": entry.action,
        "resource_type": entry.resource_type,
        "resource_id": entry.resource_id,
        "outcome": entry.outcome.value,
        "request_id": meta.request_id,
        "client_address": meta.client_address,
        "user_agent": meta.user_agent,
        "details": dict(entry.details),
    }


def chain_rows(
    rows: list[dict[str, Any]], chain: int, seq: int, previous: bytes, key: AuditKey
) -> tuple[int, bytes]:
    """Give the rows their places after the chain's head (seq, hash); the new head."""
    for row in rows:
        seq += 1
        row["chain"], row["seq"], row["prev_hash"] = chain, seq, previous
        previous = row["hash"] = chain_hash(key, previous, ChainedRow(**_hashed_fields(row)))
    return seq, previous


def _hashed_fields(row: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in row.items() if key not in ("prev_hash", "hash")}
