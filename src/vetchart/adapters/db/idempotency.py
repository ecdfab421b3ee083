"""Stored first responses for ``Idempotency-Key`` retries (per user, kept 24 hours).

A row whose ``status_code`` is NULL is a claim: its request is still running. The claim's
lease runs from ``created_at`` (the time the current attempt took the key); past the lease
the request is presumed dead (its process crashed) and the next request with the same key
and fingerprint takes the claim over. ``complete`` and ``abandon`` match ``created_at`` too,
so an attempt that outlived its lease cannot touch its successor's claim.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from vetchart.adapters.db.tables import idempotency_keys
from vetchart.services.ports.system import Claim, ClaimResult, StoredResponse

KEY_LIFETIME = timedelta(hours=24)


class SqlIdempotencyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def claim(
        self, user_id: UUID, key: str, fingerprint: bytes, now: datetime, *, lease: timedelta
    ) -> ClaimResult:
        this_key = (idempotency_keys.c.user_id == user_id, idempotency_keys.c.key == key)
        async with self._engine.begin() as conn:
            # An expired key is free again.
            await conn.execute(
                delete(idempotency_keys).where(*this_key, idempotency_keys.c.expires_at <= now)
            )
            inserted = await conn.execute(
                pg_insert(idempotency_keys)
                .values(
                    user_id=user_id,
                    key=key,
                    fingerprint=fingerprint,
                    created_at=now,
                    expires_at=now + KEY_LIFETIME,
                )
                .on_conflict_do_nothing(index_elements=["user_id", "key"])
                .returning(idempotency_keys.c.key)
            )
            if inserted.first() is not None:
                return ClaimResult(Claim.NEW, claimed_at=now)
            # A claim past its lease was left by a dead request: take it over. The UPDATE
            # locks the row and re-checks the lease, so of two racing retries one wins.
            taken = await conn.execute(
                update(idempotency_keys)
                .where(
                    *this_key,
                    idempotency_keys.c.fingerprint == fingerprint,
                    idempotency_keys.c.status_code.is_(None),
                    idempotency_keys.c.created_at <= now - lease,
                )
                .values(created_at=now, expires_at=now + KEY_LIFETIME)
                .returning(idempotency_keys.c.key)
            )
            if taken.first() is not None:
                return ClaimResult(Claim.NEW, claimed_at=now)
            row = (await conn.execute(select(idempotency_keys).where(*this_key))).mappings().first()
        if row is None:  # deleted meanwhile (the first request failed): let this one try
            return ClaimResult(Claim.IN_PROGRESS)
        if row["fingerprint"] != fingerprint:
            return ClaimResult(Claim.MISMATCH)
        if row["status_code"] is None:
            return ClaimResult(Claim.IN_PROGRESS)
        return ClaimResult(
            Claim.REPLAY,
            StoredResponse(
                status_code=row["status_code"],
                body=bytes(row["response_body"] or b""),
                headers=dict(row["response_headers"] or {}),
            ),
        )

    async def complete(
        self, user_id: UUID, key: str, claimed_at: datetime, response: StoredResponse
    ) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                update(idempotency_keys)
                .where(*_own_claim(user_id, key, claimed_at))
                .values(
                    status_code=response.status_code,
                    response_body=response.body,
                    response_headers=response.headers,
                )
            )

    async def abandon(self, user_id: UUID, key: str, claimed_at: datetime) -> None:
        """The first request failed (5xx or crashed): the key may be retried."""
        async with self._engine.begin() as conn:
            await conn.execute(
                delete(idempotency_keys).where(*_own_claim(user_id, key, claimed_at))
            )

    async def purge_expired(self, now: datetime) -> int:
        """Delete expired keys (housekeeping; an expired key is already free for reuse)."""
        async with self._engine.begin() as conn:
            gone = await conn.execute(
                delete(idempotency_keys)
                .where(idempotency_keys.c.expires_at <= now)
                .returning(idempotency_keys.c.key)
            )
            return len(gone.all())


def _own_claim(user_id: UUID, key: str, claimed_at: datetime) -> tuple[ColumnElement[bool], ...]:
    """The claim taken at ``claimed_at``, still unanswered (not one taken over since)."""
    return (
        idempotency_keys.c.user_id == user_id,
        idempotency_keys.c.key == key,
        idempotency_keys.c.created_at == claimed_at,
        idempotency_keys.c.status_code.is_(None),
    )
