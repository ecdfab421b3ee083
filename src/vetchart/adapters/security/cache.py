"""A few seconds of in-process memory for authenticated sessions.

Forgotten through the outbox's ``SessionsChanged`` events (services/invalidation.py): in
this process right after the revoking commit, in the delivering process at delivery;
other processes forget within the TTL (a few seconds), which bounds how long a revoked
token can still work there.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from uuid import UUID

from vetchart.domain.policy import Principal


class TtlPrincipalCache:
    def __init__(self, *, ttl_seconds: float, max_entries: int = 10_000) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._entries: OrderedDict[UUID, tuple[float, Principal]] = OrderedDict()

    def get(self, session_id: UUID) -> Principal | None:
        if self._ttl <= 0:
            return None
        item = self._entries.get(session_id)
        if item is None:
            return None
        stored_at, principal = item
        if time.monotonic() - stored_at > self._ttl:
            self._entries.pop(session_id, None)
            return None
        return principal

    def put(self, principal: Principal) -> None:
        if self._ttl <= 0:
            return
        self._entries[principal.session_id] = (time.monotonic(), principal)
        self._entries.move_to_end(principal.session_id)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def invalidate(self, session_ids: Sequence[UUID]) -> None:
        for session_id in session_ids:
            self._entries.pop(session_id, None)
