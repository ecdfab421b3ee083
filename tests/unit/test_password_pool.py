"""The password-hashing pool: other processes at a lower priority, a bounded queue that
sheds instead of stalling, and the dummy verification on the same path as a real one.

Blocking is deterministic: a thread pool whose worker function waits on an event the test
sets, never a sleep."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from vetchart.adapters.security import passwords as hashing
from vetchart.adapters.security.passwords import Argon2Hasher, hash_pool_collector
from vetchart.domain.errors import Unavailable

CHEAP: dict[str, Any] = {"time_cost": 1, "memory_kib": 8192, "parallelism": 1}
PASSWORD = "copper lantern orbits quietly"
# Generous bounds on waiting for a condition that follows at once (no fixed sleeps).
POLL_SECONDS = 0.005
POLL_ROUNDS = 1000


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(POLL_ROUNDS):
        if condition():
            return
        await asyncio.sleep(POLL_SECONDS)
    raise AssertionError("condition not reached")


def _own_niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, 0)


class Gate:
    """Makes the pool's verify function wait until opened (the test's blocked worker)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.opened = threading.Event()
        self.entered = threading.Event()
        self.calls: list[str] = []
        real = hashing.verify_password

        def gated(password_hash: str, password: str) -> bool:
            self.calls.append(password_hash)
            self.entered.set()
            self.opened.wait(timeout=10)
            return real(password_hash, password)

        monkeypatch.setattr(hashing, "verify_password", gated)

    def open(self) -> None:
        self.opened.set()


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    gate = Gate(monkeypatch)
    yield gate
    gate.open()  # never leave a worker thread waiting


@pytest.fixture
async def make_hasher() -> AsyncIterator[Callable[..., Argon2Hasher]]:
    made: list[Argon2Hasher] = []

    def make(**overrides: Any) -> Argon2Hasher:
        hasher = Argon2Hasher(**{**CHEAP, **overrides})
        made.append(hasher)
        return hasher

    yield make
    for hasher in made:
        await hasher.aclose()


# ---------------------------------------------------------------- where hashes run


async def test_process_pool_workers_are_other_processes_with_lower_priority(
    make_hasher: Callable[..., Argon2Hasher],
) -> None:
    hasher = make_hasher(executor="process", workers=1, nice=7)
    pid, niceness = await hasher.worker_identity()
    assert pid != os.getpid()
    assert niceness == min(hashing.MAX_NICENESS, _own_niceness() + 7)
    assert _own_niceness() != niceness  # the API process keeps its priority
    assert hasher.stats().executor == "process"
    # Hashing really happens there, and the result verifies here or anywhere.
    encoded = await hasher.hash(PASSWORD)
    assert hashing.verify_password(encoded, PASSWORD) is True
    assert await hasher.verify(encoded, PASSWORD) is True
    assert (await hasher.worker_identity())[0] == pid  # the same warm worker


async def test_the_pool_stops_on_close(make_hasher: Callable[..., Argon2Hasher]) -> None:
    hasher = make_hasher(executor="process", workers=1)
    pid, _ = await hasher.worker_identity()
    await hasher.aclose()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # stopped and reaped


async def test_a_dead_worker_is_replaced(make_hasher: Callable[..., Argon2Hasher]) -> None:
    hasher = make_hasher(executor="process", workers=1)
    old_pid, _ = await hasher.worker_identity()
    os.kill(old_pid, signal.SIGKILL)
    new_pid = old_pid
    for _ in range(POLL_ROUNDS):
        try:
            new_pid, _ = await hasher.worker_identity()
        except Unavailable:  # the hash that met the dead worker is shed, not a 500
            continue
        if new_pid != old_pid:
            break
    assert new_pid != old_pid
    assert await hasher.verify(await hasher.hash(PASSWORD), PASSWORD) is True


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread niceness is Linux")
async def test_thread_workers_lower_only_their_own_priority(
    make_hasher: Callable[..., Argon2Hasher],
) -> None:
    hasher = make_hasher(executor="thread", workers=1, nice=5)
    before = _own_niceness()
    pid, niceness = await hasher.worker_identity()
    assert pid == os.getpid()
    assert niceness == min(hashing.MAX_NICENESS, before + 5)
    assert _own_niceness() == before  # the event loop's thread is untouched
    assert hasher.stats().executor == "thread"


def test_workers_default_to_the_cpus_this_process_may_use() -> None:
    hasher = Argon2Hasher(**CHEAP, executor="thread")
    assert hasher.stats().workers == len(os.sched_getaffinity(0))
    assert hasher.stats().max_in_flight == hasher.stats().workers
    sized = Argon2Hasher(**CHEAP, executor="thread", workers=3, max_concurrency=2)
    assert (sized.stats().workers, sized.stats().max_in_flight) == (3, 2)


# ---------------------------------------------------------------- the bounded queue


async def test_a_full_queue_sheds_at_once_with_retry_after(
    make_hasher: Callable[..., Argon2Hasher], gate: Gate
) -> None:
    hasher = make_hasher(executor="thread", workers=1, queue_limit=0, queue_timeout_seconds=2.5)
    encoded = hashing.hash_password(1, 8192, 1, PASSWORD)
    first = asyncio.create_task(hasher.verify(encoded, PASSWORD))
    await until(lambda: hasher.stats().in_flight == 1)
    with pytest.raises(Unavailable) as shed:
        await hasher.verify(encoded, PASSWORD)
    assert shed.value.retry_after_seconds == 3  # the queue timeout, rounded up
    with pytest.raises(Unavailable):
        await hasher.hash(PASSWORD)  # every kind of hash waits in the same queue
    assert hasher.stats().shed[hashing.SHED_QUEUE_FULL] == 2
    gate.open()
    assert await first is True
    assert len(gate.calls) == 1  # the shed calls never reached a worker
    assert hasher.stats().in_flight == 0


async def test_waiting_longer_than_the_timeout_sheds(
    make_hasher: Callable[..., Argon2Hasher], gate: Gate
) -> None:
    hasher = make_hasher(executor="thread", workers=1, queue_limit=5, queue_timeout_seconds=0.05)
    encoded = hashing.hash_password(1, 8192, 1, PASSWORD)
    first = asyncio.create_task(hasher.verify(encoded, PASSWORD))
    await until(lambda: hasher.stats().in_flight == 1)
    with pytest.raises(Unavailable) as shed:
        await hasher.verify(encoded, PASSWORD)
    assert shed.value.retry_after_seconds == 1
    stats = hasher.stats()
    assert (stats.shed[hashing.SHED_TIMEOUT], stats.waiting) == (1, 0)
    gate.open()
    assert await first is True


async def test_waiting_callers_go_through_in_turn(
    make_hasher: Callable[..., Argon2Hasher], gate: Gate
) -> None:
    hasher = make_hasher(executor="thread", workers=1, queue_limit=2, queue_timeout_seconds=10)
    encoded = hashing.hash_password(1, 8192, 1, PASSWORD)
    calls = [asyncio.create_task(hasher.verify(encoded, PASSWORD)) for _ in range(3)]
    # The first call is in the worker (counted in flight once it got there; on a busy
    # machine the other two may be waiting before it is), the other two wait.
    await until(lambda: gate.entered.is_set() and hasher.stats().waiting == 2)
    assert hasher.stats().in_flight == 1  # never more than max_in_flight in the pool
    with pytest.raises(Unavailable):
        await hasher.verify(encoded, PASSWORD)  # the third waiter is one too many
    gate.open()
    assert await asyncio.gather(*calls) == [True, True, True]
    stats = hasher.stats()
    assert (stats.waiting, stats.in_flight, stats.completed) == (0, 0, 3)


async def test_a_cancelled_caller_keeps_its_slot_until_the_worker_is_done(
    make_hasher: Callable[..., Argon2Hasher], gate: Gate
) -> None:
    hasher = make_hasher(executor="thread", workers=1, queue_limit=0)
    encoded = hashing.hash_password(1, 8192, 1, PASSWORD)
    first = asyncio.create_task(hasher.verify(encoded, PASSWORD))
    await until(gate.entered.is_set)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    # The worker still computes: a new hash may not join it in the pool.
    assert hasher.stats().in_flight == 1
    with pytest.raises(Unavailable):
        await hasher.verify(encoded, PASSWORD)
    gate.open()
    await until(lambda: hasher.stats().in_flight == 0)
    assert await hasher.verify(encoded, PASSWORD) is True


# ---------------------------------------------------------------- unknown accounts


async def test_the_dummy_verify_takes_the_same_queue_and_pool(
    make_hasher: Callable[..., Argon2Hasher], gate: Gate
) -> None:
    hasher = make_hasher(executor="thread", workers=1, queue_limit=0)
    gate.open()
    await hasher.verify_dummy("anything at all")
    gate.opened.clear()
    (dummy_hash,) = gate.calls
    # The dummy hash has this hasher's parameters: it costs what a real verify costs.
    assert dummy_hash.startswith("$argon2id$v=19$m=8192,t=1,p=1$")
    assert hasher.needs_rehash(dummy_hash) is False
    blocked = asyncio.create_task(hasher.verify_dummy("someone typing"))
    await until(lambda: hasher.stats().in_flight == 1)
    # A full queue refuses an unknown account and a known one alike.
    with pytest.raises(Unavailable):
        await hasher.verify_dummy("another guess")
    with pytest.raises(Unavailable):
        await hasher.verify(dummy_hash, "another guess")
    gate.open()
    await blocked
    assert hasher.stats().completed == 2


async def test_the_dummy_verify_runs_in_the_worker_process(
    make_hasher: Callable[..., Argon2Hasher],
) -> None:
    hasher = make_hasher(executor="process", workers=1)
    await hasher.verify_dummy("anything at all")
    assert hasher.stats().completed == 1
    assert hasher.stats().executor == "process"


# ---------------------------------------------------------------- metrics


async def test_metrics_show_depth_in_flight_and_shed(
    make_hasher: Callable[..., Argon2Hasher], gate: Gate
) -> None:
    hasher = make_hasher(executor="thread", workers=1, queue_limit=1)
    registry = CollectorRegistry()
    registry.register(hash_pool_collector(lambda: hasher))
    empty = CollectorRegistry()
    empty.register(hash_pool_collector(lambda: None))
    assert empty.get_sample_value("vetchart_password_hash_queue_depth") is None

    encoded = hashing.hash_password(1, 8192, 1, PASSWORD)
    running = asyncio.create_task(hasher.verify(encoded, PASSWORD))
    await until(lambda: hasher.stats().in_flight == 1)
    waiting = asyncio.create_task(hasher.verify(encoded, PASSWORD))
    await until(lambda: hasher.stats().waiting == 1)
    with pytest.raises(Unavailable):
        await hasher.verify(encoded, PASSWORD)
    assert registry.get_sample_value("vetchart_password_hash_queue_depth") == 1
    assert registry.get_sample_value("vetchart_password_hash_in_flight") == 1
    shed = registry.get_sample_value("vetchart_password_hash_shed_total", {"reason": "queue_full"})
    assert shed == 1
    gate.open()
    await asyncio.gather(running, waiting)
    assert registry.get_sample_value("vetchart_password_hash_queue_depth") == 0
