"""System adapters: the clock and time-ordered ids."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import uuid_utils


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class Uuid7Ids:
    """RFC 9562 UUIDv7: time-ordered, so primary-key indexes stay compact."""

    def new_id(self) -> uuid.UUID:
        return uuid.UUID(bytes=uuid_utils.uuid7().bytes)
