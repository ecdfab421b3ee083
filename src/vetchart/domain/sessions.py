"""Login sessions: one per login; refresh tokens rotate within it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from vetchart.domain.events import DomainEvent


@dataclass(frozen=True)
class SessionRecord:
    id: UUID
    user_id: UUID
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    idle_timeout_seconds: int
    revoked_at: datetime | None = None
    revoked_reason: str | None = None
    client_address: str | None = None
    user_agent: str | None = None

    def is_usable(self, now: datetime) -> bool:
        """Not revoked, within its absolute lifetime, and used recently enough."""
        if self.revoked_at is not None or now >= self.expires_at:
            return False
        return now < self.last_used_at + timedelta(seconds=self.idle_timeout_seconds)


@dataclass(frozen=True)
class SessionPolicy:
    idle_timeout_staff: timedelta
    idle_timeout_owner: timedelta
    absolute_lifetime: timedelta


@dataclass(frozen=True, kw_only=True)
class SessionsChanged(DomainEvent):
    """What a process remembers of these sessions (their principal: the user, role, MFA,
    name) is stale: they were revoked (``reason``: logout, password change, ...) or their
    user changed. The principal caches forget them (services/invalidation.py)."""

    user_id: UUID
    session_ids: tuple[UUID, ...]
    reason: str
