"""Stored first responses for ``Idempotency-Key`` retries (per user, kept 24 hours)."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from vetchart.adapters.db.tables import idempotency_keys
from vetchart.services.ports import Claim, ClaimResult, StoredResponse

KEY_LIFETIME = timedelta(hours=24)


class SqlIdempotencyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def claim(
        self, user_id: UUID, key: str, fingerprint: bytes, now: datetime
    ) -> ClaimResult:
        async with self._engine.begin() as conn:
            # An expired key is free again.
            await conn.execute(
                delete(idempotency_keys).where(
                    idempotency_keys.c.user_id == user_id,
                    idempotency_keys.c.key == key,
                    idempotency_keys.c.expires_at <= now,
                )
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
                return ClaimResult(Claim.NEW)
            row = (
                (
                    await conn.execute(
                        select(idempotency_keys).where(
                            idempotency_keys.c.user_id == user_id, idempotency_keys.c.key == key
                        )
                    )
                )
                .mappings()
                .first()
            )
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

    async def complete(self, user_id: UUID, key: str, response: StoredResponse) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                update(idempotency_keys)
                .where(idempotency_keys.c.user_id == user_id, idempotency_keys.c.key == key)
                .values(
                    status_code=response.status_code,
                    response_body=response.body,
                    response_headers=response.headers,
                )
            )

    async def abandon(self, user_id: UUID, key: str) -> None:
        """The first request failed (5xx or crashed): the key may be retried."""
        async with self._engine.begin() as conn:
            await conn.execute(
                delete(idempotency_keys).where(
                    idempotency_keys.c.user_id == user_id, idempotency_keys.c.key == key
                )
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
