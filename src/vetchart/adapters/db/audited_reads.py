"""An audited read in one short transaction on the fast pool (adapters/db/pg.py).

Four round trips, two of them statements:

1. ``BEGIN``;
2. one statement locks a randomly chosen audit chain's head (through the SECURITY
   DEFINER function ``audit_lock_head``), checks the caller's scope and reads the data
   (:func:`with_chain_head` wraps the read's SQL);
3. the audit row, hashed onto that chain in Python under the audit key, is inserted; its
   trigger moves the head (the application cannot update the heads table);
4. ``COMMIT`` — without waiting for the WAL flush unless ``VETCHART_AUDIT_READS_DURABLE``.

The data leaves only after the commit: a read whose audit row cannot be written returns
nothing (fail closed). Locks: a read takes only its chain head, and holds it for one
statement and the commit; writers take their chain head last (adapters/db/audit.py), so
no lock cycle is possible.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from vetchart.adapters.db.audit import audit_row, chain_rows
from vetchart.adapters.db.pg import PgPool, Rows, SqlArgs
from vetchart.adapters.db.resilience import is_transient_connection_error
from vetchart.adapters.db.scope import owner_in_scope_sql
from vetchart.domain.audit import AUDIT_CHAINS, AuditKey
from vetchart.domain.policy import ClientScope
from vetchart.services.ports.paging import ReadAudit
from vetchart.services.ports.system import Clock, IdGenerator

log = structlog.get_logger(__name__)

# The columns of audit_events, in the order of the insert's parameters.
_AUDIT_COLUMNS = (
    "id",
    "occurred_at",
    "actor_id",
    "actor_role",
    "practice_id",
    "pet_id",
    "action",
    "resource_type",
    "resource_id",
    "outcome",
    "request_id",
    "client_address",
    "user_agent",
    "details",
    "chain",
    "seq",
    "prev_hash",
    "hash",
)
_N = len(_AUDIT_COLUMNS)
_VALUES = ", ".join(
    f"${n}::jsonb" if name == "details" else f"${n}" for n, name in enumerate(_AUDIT_COLUMNS, 1)
)
APPEND_AUDIT_ROW = f"INSERT INTO audit_events ({', '.join(_AUDIT_COLUMNS)}) VALUES ({_VALUES})"

# The head's columns in every row of an audited read (then the read's own columns).
HEAD_SEQ = "head_seq"
HEAD_HASH = "head_hash"


def with_chain_head(read_sql: str, *, order_by: str | None = None) -> str:
    """``read_sql`` (its parameters from ``$2``; ``$1`` is the chain) behind the lock of
    the chain's head: every row it returns carries ``head_seq`` and ``head_hash``.

    A read of several rows names the column of ``read_sql`` that orders them
    (``order_by``, e.g. ``PAGE_ORDER``): the order of a subquery's rows does not survive
    the joins around it. With statistics the planner may hash-join a scope check to a
    page, and the rows then come back in the hash table's order; the audit row, built
    from the first row returned, named no rows when that was not the page's first."""
    ordered = "" if order_by is None else f" ORDER BY d.{order_by}"
    return (
        "WITH head AS (SELECT seq AS head_seq, hash AS head_hash "
        "FROM audit_lock_head($1::smallint)) "
        "SELECT head.head_seq, head.head_hash, d.* FROM (SELECT 1) AS one "
        f"LEFT JOIN head ON true CROSS JOIN LATERAL ({read_sql}) AS d{ordered}"
    )


class MissingChainHeadError(RuntimeError):
    """The audit chain picked has no head row (answered 500: nothing leaves)."""


class AuditedReader:
    """Runs an audited read: the rows and their committed audit row, or None (no rows:
    nothing found in scope, nothing written)."""

    def __init__(self, pool: PgPool, clock: Clock, ids: IdGenerator, key: AuditKey) -> None:
        self._pool = pool
        self._clock = clock
        self._ids = ids
        self._key = key

    async def read(self, sql: str, args: tuple[Any, ...], audit: ReadAudit) -> Rows | None:
        """Retried once on a connection lost before the commit was sent: nothing was
        committed then, so the retry writes the only audit row. A loss during the
        commit is not retried (the row may have been written) and answers 503."""
        progress = _Progress()
        try:
            return await self._read_once(sql, args, audit, progress)
        except Exception as error:
            if progress.committing or not is_transient_connection_error(error):
                raise
            log.warning("database.audited_read_retried", error=type(error).__name__)
            return await self._read_once(sql, args, audit, _Progress())

    async def one(self, sql: str, args: SqlArgs, audit: ReadAudit) -> Mapping[str, Any] | None:
        """A read of one row (``args`` from ``$2``): the row, or None (not in scope)."""
        rows = await self.read(sql, tuple(args.values), audit)
        return rows[0] if rows else None

    async def owned_one(
        self,
        select_from: str,
        *,
        row_id: str,
        owner_id: str,
        scope: ClientScope,
        args: SqlArgs,
        audit: ReadAudit,
    ) -> Mapping[str, Any] | None:
        """The row of ``select_from`` (``SELECT ... FROM ...``) whose ``row_id`` is ``$2``
        (the first of ``args``) when its owner (the SQL ``owner_id``) is in ``scope``."""
        in_scope = owner_in_scope_sql(scope, owner_id, args)
        sql = with_chain_head(f"{select_from} WHERE {row_id} = $2 AND {in_scope}")
        return await self.one(sql, args, audit)

    async def _read_once(
        self,
        sql: str,
        args: tuple[Any, ...],
        audit: ReadAudit,
        progress: _Progress,
    ) -> Rows | None:
        chain = secrets.randbelow(AUDIT_CHAINS)
        async with self._pool.transaction() as tx:
            rows = await tx.fetch(sql, chain, *args)
            if not rows:
                return None
            if rows[0][HEAD_SEQ] is None:  # a missing head is a broken database, not a 404
                raise MissingChainHeadError(f"audit chain {chain} has no head row")
            row = audit_row(audit.entry_for(rows[0]), audit.meta, self._clock, self._ids)
            chain_rows([row], chain, rows[0][HEAD_SEQ], rows[0][HEAD_HASH], self._key)
            values = [row[name] for name in _AUDIT_COLUMNS]
            values[_AUDIT_COLUMNS.index("details")] = json.dumps(row["details"])
            await tx.execute(APPEND_AUDIT_ROW, *values)
            progress.committing = True  # the block's end sends COMMIT
        return rows


@dataclass
class _Progress:
    committing: bool = False
