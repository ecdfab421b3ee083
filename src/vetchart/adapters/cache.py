"""Short-lived caches of rendered answers (the dashboard), invalidated per practice.

Invalidation bumps a per-practice generation that is part of every key, so one write
forgets every cached answer of the practice. Readers take the generation BEFORE they
query and store under it: an invalidation that lands while they query makes their
answer unreachable instead of caching it as fresh. Memory by default (one process); Redis when
REDIS_URL is set, so every API process and the worker share invalidations.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from uuid import UUID

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)

MAX_MEMORY_ENTRIES = 10_000


class MemoryDashboardCache:
    """One process's cache. ``clock`` (seconds, like ``time.monotonic``) times the
    expiry; tests pass a manual one."""

    def __init__(self, ttl_seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._generations: dict[UUID, int] = {}
        self._entries: dict[tuple[UUID, int, str], tuple[float, bytes]] = {}

    async def generation(self, practice_id: UUID) -> int:
        return self._generations.get(practice_id, 0)

    async def get(self, practice_id: UUID, generation: int, key: str) -> bytes | None:
        entry = self._entries.get((practice_id, generation, key))
        if entry is None or entry[0] < self._clock():
            return None
        return entry[1]

    async def put(self, practice_id: UUID, generation: int, key: str, value: bytes) -> None:
        if self._ttl <= 0:
            return
        if len(self._entries) >= MAX_MEMORY_ENTRIES:
            now = self._clock()
            self._entries = {k: v for k, v in self._entries.items() if v[0] >= now}
            if len(self._entries) >= MAX_MEMORY_ENTRIES:
                self._entries.clear()
        self._entries[(practice_id, generation, key)] = (self._clock() + self._ttl, value)

    async def invalidate(self, practice_id: UUID) -> None:
        self._generations[practice_id] = self._generations.get(practice_id, 0) + 1


class RedisDashboardCache:
    """Shared by every process. A Redis outage only turns the cache off (logged)."""

    def __init__(self, url: str, ttl_seconds: float, prefix: str = "vetchart:dashboard") -> None:
        self._redis: Redis = Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._ttl_ms = int(ttl_seconds * 1000)
        self._prefix = prefix

    async def generation(self, practice_id: UUID) -> int:
        try:
            value = await self._redis.get(f"{self._prefix}:gen:{practice_id}")
        except RedisError as error:
            log.warning("cache.unavailable", error=type(error).__name__)
            return -1  # no cache while Redis is away
        return int(value or 0)

    async def get(self, practice_id: UUID, generation: int, key: str) -> bytes | None:
        if generation < 0:
            return None
        try:
            value = await self._redis.get(f"{self._prefix}:{practice_id}:{generation}:{key}")
        except RedisError as error:
            log.warning("cache.unavailable", error=type(error).__name__)
            return None
        return value if isinstance(value, bytes) else None

    async def put(self, practice_id: UUID, generation: int, key: str, value: bytes) -> None:
        if self._ttl_ms <= 0 or generation < 0:
            return
        try:
            await self._redis.set(
                f"{self._prefix}:{practice_id}:{generation}:{key}", value, px=self._ttl_ms
            )
        except RedisError as error:
            log.warning("cache.unavailable", error=type(error).__name__)

    async def invalidate(self, practice_id: UUID) -> None:
        try:
            await self._redis.incr(f"{self._prefix}:gen:{practice_id}")
        except RedisError as error:
            log.warning("cache.invalidate_failed", error=type(error).__name__)

    async def aclose(self) -> None:
        await self._redis.aclose()
