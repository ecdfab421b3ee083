"""Rate limits with the `limits` library: in memory by default, Redis when configured.

When Redis cannot be reached the limiter fails open (allows, logs, counts the error).

A sliding-window counter per (limit name, identity); the answer carries what the
``RateLimit-*`` and ``Retry-After`` headers need.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import cast

import structlog
from limits import RateLimitItem, parse
from limits.aio.storage import Storage as AsyncStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RateLimitDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int


class RateLimiter:
    def __init__(
        self,
        *,
        redis_url: str | None,
        limits: dict[str, str],
        enabled: bool = True,
        key_prefix: str = "vetchart:limits",
    ):
        if redis_url:
            uri = "async+" + redis_url if not redis_url.startswith("async+") else redis_url
            # redis-py's asyncio client (the `redis` package), not coredis; every key under
            # ``key_prefix`` (VETCHART_REDIS_PREFIX + ":limits").
            storage = storage_from_string(uri, implementation="redispy", key_prefix=key_prefix)
        else:
            uri = "async+memory://"
            storage = storage_from_string(uri)
        self._storage = cast(AsyncStorage, storage)
        self.storage_uri_scheme = uri.split("://", 1)[0]
        self._limiter = SlidingWindowCounterRateLimiter(self._storage)
        self._items: dict[str, RateLimitItem] = {name: parse(spec) for name, spec in limits.items()}
        self.enabled = enabled
        self.storage_errors = 0

    def item(self, name: str) -> RateLimitItem:
        return self._items[name]

    async def hit(self, name: str, identity: str) -> RateLimitDecision:
        item = self._items[name]
        if not self.enabled:
            return RateLimitDecision(True, item.amount, item.amount, 0)
        try:
            allowed = await self._limiter.hit(item, name, identity)
            stats = await self._limiter.get_window_stats(item, name, identity)
        except Exception as error:  # the storage (Redis) is down or misbehaving
            # Fail open: rate limits protect capacity, and sign-in failures are still
            # counted and locked out in the database. Refusing every request because
            # Redis is away would turn a cache outage into a full outage.
            self.storage_errors += 1
            log.warning("rate_limit.storage_unavailable", limit=name, error=type(error).__name__)
            return RateLimitDecision(True, item.amount, item.amount, item.get_expiry())
        reset = max(0, math.ceil(stats.reset_time - time.time()))
        if reset == 0:
            # `limits` computes the reset as (time left in the current window) % (window),
            # which is 0 when a whole window is left: with Redis, the usual answer to the
            # first hit of a window (and to a refusal within the same millisecond). A hit
            # always leaves something counted, so "now" is never right; a whole window is
            # (or, at the very edge of a window, a safe over-estimate).
            reset = item.get_expiry()
        return RateLimitDecision(allowed, item.amount, max(0, stats.remaining), reset)

    async def spent(self, name: str, identity: str) -> bool:
        """Whether a hit of the named limit would be refused now (counts nothing): for
        limits counted only on some outcome (refused API keys), checked before the work."""
        if not self.enabled:
            return False
        try:
            return not await self._limiter.test(self._items[name], name, identity)
        except Exception as error:  # fail open, as hit() does
            self.storage_errors += 1
            log.warning("rate_limit.storage_unavailable", limit=name, error=type(error).__name__)
            return False

    async def reset(self) -> None:
        await self._storage.reset()

    async def aclose(self) -> None:
        """Close the Redis client's pooled connections (the memory storage holds none).

        Without this the sockets stay open until garbage collection (``ResourceWarning:
        unclosed transport``), one pool per event loop that used the limiter.
        """
        client = getattr(getattr(self._storage, "bridge", None), "storage", None)
        close = getattr(client, "aclose", None)
        if close is not None:
            await close()
