"""The audit log writer: entries are queued and appended to a hash chain at commit.

Each unit of work appends all its entries to one chain, picked at random among
``AUDIT_CHAINS``. The chain's head row is locked (``FOR UPDATE``) by the first of the two
statements below and released by the commit right after, so two transactions only wait
for each other when they pick the same chain, and then only for a commit. Two statements
per unit of work, both prebuilt (adapters/db/statements.py): lock and read the head, then
insert the rows and move the head in one.
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vetchart.adapters.db.statements import bound, insert_one, multi_row_insert
from vetchart.adapters.db.tables import audit_chains, audit_events
from vetchart.domain.audit import AUDIT_CHAINS, AuditEntry, ChainedRow, RequestMeta, chain_hash
from vetchart.services.ports import Clock, IdGenerator


class SqlAuditLog:
    def __init__(self, clock: Clock, ids: IdGenerator) -> None:
        self._clock = clock
        self._ids = ids
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
        seq, previous = chain_rows(rows, chain, head.seq, head.hash)
        # One statement appends the rows and moves the chain's head (a data-modifying CTE).
        move = {"head_chain": chain, "head_seq": seq, "head_hash": previous}
        if len(rows) == 1:
            statement = _append_one(tuple(rows[0]))
            await session.execute(statement, {**bound(rows[0], "a_"), **move})
            return
        await session.execute(
            multi_row_insert(audit_events, rows).add_cte(_MOVE_HEAD.cte("move_head")), move
        )


# Lock a chain's head (the last lock a unit of work takes: no cycles).
_LOCK_HEAD = (
    select(audit_chains.c.seq, audit_chains.c.hash)
    .where(audit_chains.c.chain == bindparam("locked_chain"))
    .with_for_update()
)
_MOVE_HEAD = (
    update(audit_chains)
    .where(audit_chains.c.chain == bindparam("head_chain"))
    .values(seq=bindparam("head_seq"), hash=bindparam("head_hash"))
)


@lru_cache(maxsize=4)
def _append_one(columns: tuple[str, ...]) -> Any:
    return insert_one(audit_events, columns, "a_").add_cte(_MOVE_HEAD.cte("move_head"))


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
    rows: list[dict[str, Any]], chain: int, seq: int, previous: bytes
) -> tuple[int, bytes]:
    """Give the rows their places after the chain's head (seq, hash); the new head."""
    for row in rows:
        seq += 1
        row["chain"], row["seq"], row["prev_hash"] = chain, seq, previous
        previous = row["hash"] = chain_hash(previous, ChainedRow(**_hashed_fields(row)))
    return seq, previous


def _hashed_fields(row: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in row.items() if key not in ("prev_hash", "hash")}
