"""The dashboard caches: in memory, and on a real Redis (``redis://127.0.0.1:6379`` or
``TEST_REDIS_URL``; required — no skip). Keys live under a prefix unique to the test."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import redis.asyncio as aioredis

from tests.clock import ManualClock
from vetchart.adapters.cache import MemoryDashboardCache, RedisDashboardCache
from vetchart.services.ports.schedule import DashboardCache

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
TTL = 0.3


@asynccontextmanager
async def redis_cache() -> AsyncIterator[tuple[RedisDashboardCache, aioredis.Redis, str]]:
    """A cache on the real Redis under a fresh prefix, a probe connection, the prefix."""
    prefix = f"vetchart-test:{uuid.uuid4().hex}"
    shared = RedisDashboardCache(REDIS_URL, TTL, prefix=prefix)
    probe = aioredis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await probe.ping()  # type: ignore[misc]
        yield shared, probe, prefix
    finally:
        keys = [key async for key in probe.scan_iter(match=f"{prefix}:*")]
        if keys:
            await probe.delete(*keys)
        await probe.aclose()
        await shared.aclose()


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[DashboardCache]:
    if request.param == "memory":
        yield MemoryDashboardCache(TTL)
        return
    async with redis_cache() as (shared, _, _):
        yield shared


async def test_a_cached_answer_is_served_until_the_practice_changes(
    cache: DashboardCache,
) -> None:
    practice, other = uuid.uuid4(), uuid.uuid4()
    generation = await cache.generation(practice)
    assert await cache.get(practice, generation, "today:all") is None
    await cache.put(practice, generation, "today:all", b"body-1")
    await cache.put(other, await cache.generation(other), "today:all", b"other")
    assert await cache.get(practice, await cache.generation(practice), "today:all") == b"body-1"

    await cache.invalidate(practice)
    assert await cache.get(practice, await cache.generation(practice), "today:all") is None
    # Another practice's answers are untouched.
    assert await cache.get(other, await cache.generation(other), "today:all") == b"other"


async def test_an_answer_computed_across_an_invalidation_is_never_served(
    cache: DashboardCache,
) -> None:
    """The reader took the generation, then a change landed while it queried: what it
    stores is under the old generation, unreachable."""
    practice = uuid.uuid4()
    taken = await cache.generation(practice)
    await cache.invalidate(practice)  # the change, during the query
    await cache.put(practice, taken, "today:all", b"stale")
    assert await cache.get(practice, await cache.generation(practice), "today:all") is None


async def test_memory_answers_expire_on_the_clock() -> None:
    clock = ManualClock()
    cache = MemoryDashboardCache(TTL, clock=clock)
    practice = uuid.uuid4()
    generation = await cache.generation(practice)
    await cache.put(practice, generation, "k", b"v")
    clock.advance(TTL * 0.9)
    assert await cache.get(practice, generation, "k") == b"v"
    clock.advance(TTL * 0.2)
    assert await cache.get(practice, generation, "k") is None


async def test_redis_answers_are_stored_with_the_ttl() -> None:
    """Redis expires the key itself: what the adapter owes is the key's time to live (no
    wait for the real expiry)."""
    async with redis_cache() as (cache, probe, prefix):
        practice = uuid.uuid4()
        generation = await cache.generation(practice)
        await cache.put(practice, generation, "k", b"v")
        assert await cache.get(practice, generation, "k") == b"v"
        keys = [key async for key in probe.scan_iter(match=f"{prefix}:*")]
        assert len(keys) == 1
        assert 0 < await probe.pttl(keys[0]) <= TTL * 1000


async def test_a_redis_outage_turns_the_cache_off() -> None:
    unreachable = RedisDashboardCache("redis://127.0.0.1:1", TTL)
    try:
        practice = uuid.uuid4()
        generation = await unreachable.generation(practice)
        assert generation < 0
        await unreachable.put(practice, generation, "k", b"v")
        assert await unreachable.get(practice, generation, "k") is None
        await unreachable.invalidate(practice)  # logged, not raised
    finally:
        await unreachable.aclose()
