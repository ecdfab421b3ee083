"""A few seconds of in-process memory for authenticated sessions.

Forgotten through the outbox's ``SessionsChanged`` events (services/invalidation.py): in
this process right after the revoking commit, in the delivering process at delivery; with
Redis, every other process at once too (adapters/security/revocation.py, which suspends
this cache while it cannot hear the others). Otherwise other processes forget within the
TTL (at most 2 s), which bounds how long a revoked token can still work there.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from uuid import UUID

from vetchart.domain.policy import Principal


class TtlPrincipalCache:
    """``suspended``: start off (every request asks the database) until ``resume()``.

    ``generation`` moves on every invalidation, suspension and resumption: a caller reads
    it before its database look-up and passes it to ``put``, which then stores nothing if
    a revocation was heard in between (so a principal read just before its revocation
    committed is not cached again after the revocation was forgotten)."""

    def __init__(
        self, *, ttl_seconds: float, max_entries: int = 10_000, suspended: bool = False
    ) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._entries: OrderedDict[UUID, tuple[float, Principal]] = OrderedDict()
        self._suspended = suspended
        self._generation = 0

    @property
    def suspended(self) -> bool:
        return self._suspended

    @property
    def generation(self) -> int:
        return self._generation

    def suspend(self) -> None:
        """Serve nothing from memory (revocations elsewhere cannot be heard now)."""
        self._generation += 1
        self._suspended = True
        self._entries.clear()

    def resume(self) -> None:
        """Serve from memory again, starting empty (what was missed meanwhile is gone)."""
        self._generation += 1
        self._entries.clear()
        self._suspended = False

    def get(self, session_id: UUID) -> Principal | None:
        if self._ttl <= 0 or self._suspended:
            return None
        item = self._entries.get(session_id)
        if item is None:
            return None
        stored_at, principal = item
        if time.monotonic() - stored_at > self._ttl:
            self._entries.pop(session_id, None)
            return None
        return principal

    def put(self, principal: Principal, *, looked_up_at: int | None = None) -> None:
        """Remember ``principal``; not when ``looked_up_at`` (the ``generation`` read before
        its look-up) is no longer current."""
        if self._ttl <= 0 or self._suspended:
            return
        if looked_up_at is not None and looked_up_at != self._generation:
            return
        self._entries[principal.session_id] = (time.monotonic(), principal)
        self._entries.move_to_end(principal.session_id)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def invalidate(self, session_ids: Sequence[UUID]) -> None:
        if session_ids:
            self._generation += 1
        for session_id in session_ids:
            self._entries.pop(session_id, None)
