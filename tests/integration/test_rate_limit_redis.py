"""The rate limiter (``vetchart.adapters.ratelimit.RateLimiter``) against a real Redis, and
the same behaviour with the in-memory storage.

Redis is what lets several API processes share one counter, so that is tested with two
limiter instances on the same server. The server is ``redis://127.0.0.1:6379`` (override
with ``TEST_REDIS_URL``); it is required: when it cannot be reached the tests fail, they do
not skip. Every test uses identities unique to this run and deletes only its own keys.
"""

from __future__ import annotations

import gc
import os
import uuid
import warnings
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis

from vetchart.adapters.ratelimit import RateLimitDecision, RateLimiter

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
LIMITS = {"login": "3/minute", "signup": "2/minute", "roomy": "100/minute"}

MakeLimiter = Callable[[], RateLimiter]


@pytest.fixture
def run_id() -> str:
    return f"vetchart-test-{uuid.uuid4().hex}"


async def _unreachable(url: str) -> str | None:
    """Why the Redis at ``url`` cannot be used, or None when it answers PING."""
    client = aioredis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        await client.ping()  # type: ignore[misc]  # redis-py's stubs: bool | Awaitable
    except (aioredis.ConnectionError, aioredis.TimeoutError, OSError) as error:
        return (
            f"Redis is not reachable at {url} ({error}). These tests need a real Redis: "
            "start one (e.g. `redis-server` or `docker run -p 6379:6379 redis`) or point "
            "TEST_REDIS_URL at one."
        )
    finally:
        await client.aclose()
    return None


async def test_redis_is_reachable() -> None:
    problem = await _unreachable(REDIS_URL)
    if problem:
        pytest.fail(problem, pytrace=False)


async def require_redis() -> None:
    """Fail (not skip) the test when the Redis server does not answer."""
    problem = await _unreachable(REDIS_URL)
    if problem:
        pytest.fail(problem, pytrace=False)


async def delete_keys(pattern: str) -> None:
    """Remove a test's keys (``pattern`` as Redis SCAN MATCH takes it)."""
    client = aioredis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=pattern, count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
async def redis_server(run_id: str) -> AsyncIterator[str]:
    """The Redis URL, after checking that the server answers; cleans this run's keys."""
    await require_redis()
    yield REDIS_URL
    await delete_keys(f"*{run_id}*")


@pytest.fixture
async def opened() -> AsyncIterator[list[RateLimiter]]:
    """Limiters made by a test, closed at its end (their pooled Redis connections)."""
    limiters: list[RateLimiter] = []
    yield limiters
    for limiter in limiters:
        await limiter.aclose()


@pytest.fixture(params=["memory", "redis"])
def make_limiter(request: pytest.FixtureRequest, opened: list[RateLimiter]) -> MakeLimiter:
    """Builds limiters on one storage: the memory one, or the shared Redis server."""
    url = None if request.param == "memory" else request.getfixturevalue("redis_server")

    def make() -> RateLimiter:
        limiter = RateLimiter(redis_url=url, limits=LIMITS)
        opened.append(limiter)
        return limiter

    return make


async def hits(limiter: RateLimiter, name: str, identity: str, n: int) -> list[RateLimitDecision]:
    return [await limiter.hit(name, identity) for _ in range(n)]


# ---------------------------------------------------------------- both storages


async def test_limit_is_enforced(make_limiter: MakeLimiter, run_id: str) -> None:
    limiter = make_limiter()
    decisions = await hits(limiter, "login", f"{run_id}:203.0.113.7", 5)
    assert [d.allowed for d in decisions] == [True, True, True, False, False]
    assert {d.limit for d in decisions} == {3}


async def test_spent_counts_nothing_and_says_when_a_hit_would_be_refused(
    make_limiter: MakeLimiter, run_id: str
) -> None:
    """``spent`` (the refused-API-key limit, checked before the work) only looks: any
    number of looks leaves the budget whole, and after the last allowed hit it says so."""
    limiter, identity = make_limiter(), f"{run_id}:203.0.113.9"
    for _ in range(10):
        assert not await limiter.spent("login", identity)
    decisions = await hits(limiter, "login", identity, 3)
    assert [d.allowed for d in decisions] == [True, True, True]
    assert await limiter.spent("login", identity)
    assert not await limiter.spent("login", f"{run_id}:someone-else")


async def test_spent_is_never_true_when_limits_are_off(run_id: str) -> None:
    limiter = RateLimiter(redis_url=None, limits=LIMITS, enabled=False)
    await hits(limiter, "login", f"{run_id}:off", 5)
    assert not await limiter.spent("login", f"{run_id}:off")


async def test_remaining_counts_down(make_limiter: MakeLimiter, run_id: str) -> None:
    limiter = make_limiter()
    decisions = await hits(limiter, "login", f"{run_id}:client", 4)
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]


async def test_reset_is_announced(make_limiter: MakeLimiter, run_id: str) -> None:
    limiter = make_limiter()
    decisions = await hits(limiter, "login", f"{run_id}:client", 4)
    refused = decisions[-1]
    assert not refused.allowed
    assert 0 < refused.reset_seconds <= 60
    # Every counted hit names a reset in the future (RateLimit-Reset), never "now".
    assert all(0 < d.reset_seconds <= 60 for d in decisions)


async def test_first_hit_of_a_window_announces_a_reset_in_the_future(
    make_limiter: MakeLimiter, run_id: str
) -> None:
    limiter = make_limiter()
    for n in range(20):
        decision = await limiter.hit("roomy", f"{run_id}:first-{n}")
        assert decision.allowed
        assert decision.remaining == 99
        assert 0 < decision.reset_seconds <= 60, decision


async def test_identities_are_independent(make_limiter: MakeLimiter, run_id: str) -> None:
    limiter = make_limiter()
    first, second = f"{run_id}:198.51.100.1", f"{run_id}:198.51.100.2"
    assert [d.allowed for d in await hits(limiter, "login", first, 4)] == [
        True,
        True,
        True,
        False,
    ]
    # The other address still has its whole allowance.
    decisions = await hits(limiter, "login", second, 3)
    assert [d.allowed for d in decisions] == [True, True, True]
    assert [d.remaining for d in decisions] == [2, 1, 0]


async def test_limits_are_independent(make_limiter: MakeLimiter, run_id: str) -> None:
    limiter = make_limiter()
    identity = f"{run_id}:client"
    await hits(limiter, "login", identity, 4)
    decisions = await hits(limiter, "signup", identity, 3)
    assert [d.allowed for d in decisions] == [True, True, False]
    assert {d.limit for d in decisions} == {2}


async def test_disabled_limiter_allows_everything(make_limiter: MakeLimiter, run_id: str) -> None:
    limiter = make_limiter()
    limiter.enabled = False
    decisions = await hits(limiter, "signup", f"{run_id}:client", 10)
    assert all(d.allowed and d.remaining == 2 for d in decisions)


async def test_unknown_limit_name_is_an_error(make_limiter: MakeLimiter) -> None:
    with pytest.raises(KeyError):
        await make_limiter().hit("no-such-limit", "whoever")


def test_item_parses_the_limits_notation() -> None:
    limiter = RateLimiter(redis_url=None, limits={"login": "60/minute", "x": "10 per hour"})
    assert limiter.item("login").amount == 60
    assert limiter.item("login").get_expiry() == 60
    assert limiter.item("x").get_expiry() == 3600


# ---------------------------------------------------------------- Redis specifics


@pytest.fixture
def make_redis_limiter(redis_server: str, opened: list[RateLimiter]) -> Callable[..., RateLimiter]:
    def make(url: str = redis_server) -> RateLimiter:
        limiter = RateLimiter(redis_url=url, limits=LIMITS)
        opened.append(limiter)
        return limiter

    return make


async def test_two_limiters_on_one_redis_share_the_counter(
    make_redis_limiter: Callable[..., RateLimiter], run_id: str
) -> None:
    # Two API processes, one Redis: the allowance is for all of them together.
    first = make_redis_limiter()
    second = make_redis_limiter()
    identity = f"{run_id}:203.0.113.50"
    a1 = await first.hit("login", identity)
    b1 = await second.hit("login", identity)
    a2 = await first.hit("login", identity)
    b2 = await second.hit("login", identity)
    assert [a1.allowed, b1.allowed, a2.allowed, b2.allowed] == [True, True, True, False]
    assert [a1.remaining, b1.remaining, a2.remaining] == [2, 1, 0]
    # Nor does a new process start with a fresh allowance.
    third = make_redis_limiter()
    assert not (await third.hit("login", identity)).allowed


async def test_redis_storage_is_used_when_configured(
    make_redis_limiter: Callable[..., RateLimiter], redis_server: str, run_id: str
) -> None:
    limiter = make_redis_limiter()
    assert limiter.storage_uri_scheme == "async+redis"
    await limiter.hit("login", f"{run_id}:probe")
    client = aioredis.from_url(redis_server)
    try:
        stored = [key async for key in client.scan_iter(match=f"*{run_id}:probe*")]
    finally:
        await client.aclose()
    assert stored, "the hit left no counter in Redis"


async def _leaked_connection_warnings(run_id: str, *, close: bool) -> list[str]:
    # Earlier tests' garbage (a connection a killed-backend test dropped, say) must not
    # be collected inside the window and counted as this limiter's.
    gc.collect()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        limiter = RateLimiter(redis_url=REDIS_URL, limits=LIMITS)
        await limiter.hit("login", f"{run_id}:close")
        if close:
            await limiter.aclose()
        del limiter
        gc.collect()
    return [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]


async def test_aclose_releases_the_redis_connections(redis_server: str, run_id: str) -> None:
    assert await _leaked_connection_warnings(run_id, close=True) == []
    # The check can see a leak: without aclose the connection is left open.
    leaked = await _leaked_connection_warnings(run_id, close=False)
    assert any("unclosed" in message for message in leaked), leaked


async def test_an_async_prefixed_redis_url_is_accepted(
    make_redis_limiter: Callable[..., RateLimiter], redis_server: str, run_id: str
) -> None:
    limiter = make_redis_limiter("async+" + redis_server)
    assert limiter.storage_uri_scheme == "async+redis"
    assert (await limiter.hit("login", f"{run_id}:prefixed")).allowed


# ---------------------------------------------------------------- memory specifics


async def test_memory_storage_is_the_default_and_per_process(run_id: str) -> None:
    first = RateLimiter(redis_url=None, limits=LIMITS)
    second = RateLimiter(redis_url=None, limits=LIMITS)
    assert first.storage_uri_scheme == "async+memory"
    identity = f"{run_id}:client"
    assert [d.allowed for d in await hits(first, "login", identity, 4)] == [
        True,
        True,
        True,
        False,
    ]
    # Memory is per process: another instance counts on its own (why Redis exists).
    assert (await second.hit("login", identity)).allowed


async def test_memory_reset_clears_the_counters(run_id: str) -> None:
    limiter = RateLimiter(redis_url=None, limits=LIMITS)
    identity = f"{run_id}:client"
    await hits(limiter, "login", identity, 4)
    await limiter.reset()
    decision = await limiter.hit("login", identity)
    assert decision.allowed
    assert decision.remaining == 2


async def test_unreachable_redis_fails_open_and_counts_the_error() -> None:
    """A Redis outage must not turn into refusing every request."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    limiter = RateLimiter(
        redis_url=f"redis://127.0.0.1:{closed_port}/0", limits={"login": "1/minute"}
    )
    first = await limiter.hit("login", "203.0.113.7")
    second = await limiter.hit("login", "203.0.113.7")
    assert first.allowed
    assert second.allowed
    assert limiter.storage_errors == 2
