"""CacheInvalidation hands the sessions a commit made stale to the SessionBroadcast (the
other processes forget them at once), once per batch, and nothing else."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from vetchart.adapters.cache import MemoryDashboardCache
from vetchart.adapters.security.cache import TtlPrincipalCache
from vetchart.services.invalidation import CacheInvalidation
from vetchart.services.ports.outbox import OutboxMessage


class RecordingBroadcast:
    def __init__(self) -> None:
        self.published: list[list[uuid.UUID]] = []

    async def publish(self, session_ids: Sequence[uuid.UUID]) -> None:
        self.published.append(list(session_ids))


def message(event_type: str, **payload: Any) -> OutboxMessage:
    return OutboxMessage(uuid.uuid4(), event_type, payload, datetime.now(UTC), None)


async def test_the_named_sessions_are_published_once_per_batch() -> None:
    broadcast = RecordingBroadcast()
    invalidation = CacheInvalidation(
        MemoryDashboardCache(10), TtlPrincipalCache(ttl_seconds=2), broadcast
    )
    first, second = uuid.uuid4(), uuid.uuid4()
    await invalidation.invalidate(
        [
            message("SessionsChanged", session_ids=[str(first), str(second)]),
            message("SessionsChanged", session_ids=[str(first)]),
            message("AppointmentChanged", practice_id=str(uuid.uuid4())),
        ]
    )
    assert broadcast.published == [[first, second]]


async def test_nothing_is_published_without_a_session_event() -> None:
    broadcast = RecordingBroadcast()
    invalidation = CacheInvalidation(
        MemoryDashboardCache(10), TtlPrincipalCache(ttl_seconds=2), broadcast
    )
    await invalidation.invalidate([message("AppointmentChanged", practice_id=str(uuid.uuid4()))])
    assert broadcast.published == []
