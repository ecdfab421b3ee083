"""Ports of the API keys: their repository (in the unit of work)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID

from vetchart.domain.api_keys import ApiKey
from vetchart.services.ports.paging import Page, PageRequest


class ApiKeyRepository(Protocol):
    async def add(self, key: ApiKey) -> None:
        """Insert; ``Conflict`` when the public id is taken."""
        ...

    async def get(self, key_id: UUID, *, for_update: bool = False) -> ApiKey | None: ...

    async def by_public_id(self, public_id: str) -> ApiKey | None:
        """The key a presented credential names (for authentication)."""
        ...

    async def page(self, practice_id: UUID, page: PageRequest) -> Page[ApiKey]:
        """The practice's keys, newest first (revoked and expired ones too)."""
        ...

    async def revoke(self, key_id: UUID, now: datetime) -> None: ...

    async def touch(self, key_id: UUID, now: datetime, *, unless_since: datetime) -> None:
        """Set ``last_used_at`` to ``now`` unless it is ``unless_since`` or later (many
        processes authenticating one key write it about once per interval)."""
        ...
