"""Ports of the system around the use cases: the clock, identifiers, symmetric sealing of
secrets at rest, and the idempotency store of POST requests."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, UTC."""
        ...


class IdGenerator(Protocol):
    def new_id(self) -> UUID:
        """A new time-ordered (UUIDv7) identifier."""
        ...


class SecretBox(Protocol):
    """Symmetric encryption for secrets kept at rest (e.g. TOTP seeds)."""

    def seal(self, plaintext: str) -> str: ...
    def open(self, sealed: str) -> str: ...


# --------------------------------------------------------------------------- idempotency


class Claim(enum.Enum):
    NEW = "new"  # this request is the first: process it, then complete() or abandon()
    REPLAY = "replay"  # a stored response exists for the same request
    MISMATCH = "mismatch"  # the key was used for a different request
    IN_PROGRESS = "in_progress"  # the first request with this key is still running (lease)


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class ClaimResult:
    claim: Claim
    stored: StoredResponse | None = None
    # For NEW: when this attempt took the key (its lease runs from then). complete() and
    # abandon() act only on the claim taken at that instant, so a request that outlived its
    # lease (and was taken over) cannot overwrite or free its successor's claim.
    claimed_at: datetime | None = None


class IdempotencyStore(Protocol):
    """First responses of POSTs sent with an Idempotency-Key, per user, for 24 hours.

    A claim whose request is still running holds the key for ``lease``; once the lease has
    run out (the process died mid-request) the next request with the same key and the same
    fingerprint takes the claim over (NEW) instead of waiting out the 24 hours."""

    async def claim(
        self, user_id: UUID, key: str, fingerprint: bytes, now: datetime, *, lease: timedelta
    ) -> ClaimResult: ...
    async def complete(
        self, user_id: UUID, key: str, claimed_at: datetime, response: StoredResponse
    ) -> None: ...
    async def abandon(self, user_id: UUID, key: str, claimed_at: datetime) -> None: ...
    async def purge_expired(self, now: datetime) -> int: ...
