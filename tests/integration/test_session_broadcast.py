"""Session revocations over Redis pub/sub (adapters/security/revocation.py), against the
real Redis (``TEST_REDIS_URL``, default ``redis://127.0.0.1:6379``); each test on its own
channel. Two broadcasts stand for two processes, each with its own principal cache."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from sqlalchemy.engine import make_url

from tests.db_proxy import DatabaseProxy
from tests.integration.test_rate_limit_redis import REDIS_URL, require_redis
from tests.unit.test_tokens import principal
from vetchart.adapters.security.cache import TtlPrincipalCache
from vetchart.adapters.security.revocation import RedisSessionBroadcast

WAIT_SECONDS = 5.0

Make = Callable[..., Awaitable[tuple[RedisSessionBroadcast, TtlPrincipalCache]]]


async def eventually(condition: Callable[[], bool], *, within: float = WAIT_SECONDS) -> float:
    """Seconds until ``condition()`` held (polled every 5 ms); fails after ``within``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > within:
            pytest.fail(f"not within {within} s")
        await asyncio.sleep(0.005)
    return time.monotonic() - started


@pytest.fixture
async def make() -> AsyncIterator[Make]:
    await require_redis()
    channel = f"test-{uuid.uuid4().hex}:sessions"
    opened: list[RedisSessionBroadcast] = []

    async def build(
        url: str = REDIS_URL, *, start: bool = True
    ) -> tuple[RedisSessionBroadcast, TtlPrincipalCache]:
        cache = TtlPrincipalCache(ttl_seconds=2)
        broadcast = RedisSessionBroadcast(
            url, channel=channel, cache=cache, max_backoff_seconds=0.2
        )
        opened.append(broadcast)
        if start:
            broadcast.start()
        return broadcast, cache

    yield build
    for broadcast in opened:
        await broadcast.aclose()


async def test_a_revocation_published_by_one_process_is_forgotten_by_the_other(
    make: Make,
) -> None:
    a, cache_a = await make()
    b, cache_b = await make()
    await asyncio.wait_for(a.subscribed.wait(), WAIT_SECONDS)
    await asyncio.wait_for(b.subscribed.wait(), WAIT_SECONDS)
    revoked, kept = principal(), principal()
    for item in (revoked, kept):
        cache_a.put(item)
        cache_b.put(item)

    await a.publish([revoked.session_id])

    latency = await eventually(lambda: cache_b.get(revoked.session_id) is None)
    assert latency < 2.0
    assert cache_a.get(revoked.session_id) is None  # the publisher hears itself too
    assert cache_b.get(kept.session_id) == kept  # only the named session is forgotten


async def test_the_cache_is_suspended_until_subscribed(make: Make) -> None:
    broadcast, cache = await make(start=False)
    item = principal()
    cache.put(item)
    assert cache.suspended
    assert cache.get(item.session_id) is None

    broadcast.start()
    await asyncio.wait_for(broadcast.subscribed.wait(), WAIT_SECONDS)
    cache.put(item)
    assert not cache.suspended
    assert cache.get(item.session_id) == item


async def test_an_unreadable_message_is_ignored(make: Make) -> None:
    a, _ = await make()
    b, cache_b = await make()
    await asyncio.wait_for(b.subscribed.wait(), WAIT_SECONDS)
    item = principal()
    cache_b.put(item)
    await a._publisher.publish(a._channel, "not json")
    await a._publisher.publish(a._channel, "[" * 100_000)  # deeper than json's recursion limit
    await a._publisher.publish(a._channel, '{"a": 1}')  # JSON, but not a list of ids
    await a.publish([item.session_id])  # still listening after the bad one
    await eventually(lambda: cache_b.get(item.session_id) is None)


async def test_without_redis_the_cache_stays_suspended_and_publishing_does_not_fail(
    make: Make,
) -> None:
    proxy = DatabaseProxy(REDIS_URL)
    url = make_url(await proxy.start())
    proxy.cut()  # nothing answers there
    try:
        broadcast, cache = await make(f"redis://127.0.0.1:{url.port}")
        await broadcast.publish([uuid.uuid4()])  # logged, not raised
        item = principal()
        cache.put(item)
        assert cache.get(item.session_id) is None
        assert not broadcast.subscribed.is_set()
    finally:
        await proxy.stop()


async def test_after_losing_redis_the_cache_is_suspended_and_resumes_on_reconnection(
    make: Make,
) -> None:
    proxy = DatabaseProxy(REDIS_URL)
    url = make_url(await proxy.start())
    try:
        listener, cache = await make(f"redis://127.0.0.1:{url.port}")
        publisher, _ = await make()
        await asyncio.wait_for(listener.subscribed.wait(), WAIT_SECONDS)
        item = principal()
        cache.put(item)
        assert cache.get(item.session_id) == item

        proxy.cut()
        await eventually(lambda: cache.suspended)
        cache.put(item)
        assert cache.get(item.session_id) is None  # every request asks the database now
        await publisher.publish([item.session_id])  # missed by the listener

        proxy.refusing = False
        await eventually(lambda: not cache.suspended)
        assert cache.get(item.session_id) is None  # resumed empty: nothing stale survives
        cache.put(item)
        await publisher.publish([item.session_id])
        await eventually(lambda: cache.get(item.session_id) is None)
    finally:
        await proxy.stop()
