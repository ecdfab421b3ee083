"""The circuit breaker (with a fake clock) and resilient(): retries, timeouts, breaker."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from vetchart.adapters.ai.breaker import (
    CIRCUIT_STATE_METRIC,
    NO_RETRY,
    CircuitBreaker,
    CircuitBreakers,
    CircuitState,
    Failure,
    RetryPolicy,
    resilient,
)
from vetchart.services.ports.ai import CircuitOpen, ServiceUnavailable

FAST = RetryPolicy(attempts=3, initial_backoff_seconds=0, max_backoff_seconds=0, jitter_seconds=0)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Boom(Exception):
    def __init__(self, kind: Failure | None) -> None:
        super().__init__(kind)
        self.kind = kind


def classify(exc: Exception) -> Failure | None:
    return exc.kind if isinstance(exc, Boom) else None


def state_of(breaker: CircuitBreaker) -> CircuitState:
    return breaker.state  # a call, so that mypy does not narrow the property


def breaker_with_clock(threshold: int = 3) -> tuple[CircuitBreaker, FakeClock, list[str]]:
    clock = FakeClock()
    changes: list[str] = []
    breaker = CircuitBreaker(
        "svc",
        failure_threshold=threshold,
        reset_timeout_seconds=30,
        clock=clock,
        listener=lambda service, state: changes.append(f"{service}:{state.label}"),
    )
    return breaker, clock, changes


def test_opens_after_consecutive_failures_and_refuses_at_once() -> None:
    breaker, clock, changes = breaker_with_clock(threshold=3)
    for _ in range(2):
        breaker.acquire().failure()
    breaker.acquire().success()  # a success resets the count
    assert breaker.consecutive_failures == 0
    for _ in range(3):
        breaker.acquire().failure()
    assert state_of(breaker) is CircuitState.OPEN
    clock.now += 10
    with pytest.raises(CircuitOpen) as caught:
        breaker.acquire()
    assert caught.value.retry_after_seconds == 20
    assert caught.value.service == "svc"
    assert changes == ["svc:open"]


def test_half_open_lets_exactly_one_trial_through_and_closes_on_success() -> None:
    breaker, clock, changes = breaker_with_clock(threshold=1)
    breaker.acquire().failure()
    clock.now += 30
    assert state_of(breaker) is CircuitState.HALF_OPEN
    trial = breaker.acquire()
    assert trial.trial
    with pytest.raises(CircuitOpen):
        breaker.acquire()  # a second caller during the trial
    trial.success()
    assert state_of(breaker) is CircuitState.CLOSED
    breaker.acquire().success()
    assert changes == ["svc:open", "svc:half-open", "svc:closed"]


def test_a_failed_trial_reopens_for_a_full_reset_timeout() -> None:
    breaker, clock, _ = breaker_with_clock(threshold=1)
    breaker.acquire().failure()
    clock.now += 31
    breaker.acquire().failure()
    assert state_of(breaker) is CircuitState.OPEN
    clock.now += 29
    with pytest.raises(CircuitOpen):
        breaker.acquire()
    clock.now += 1
    assert breaker.acquire().trial


def test_a_released_trial_frees_the_slot_without_changing_state() -> None:
    breaker, clock, _ = breaker_with_clock(threshold=1)
    breaker.acquire().failure()
    clock.now += 30
    trial = breaker.acquire()
    trial.release()
    trial.failure()  # settling twice does nothing
    assert state_of(breaker) is CircuitState.HALF_OPEN
    assert breaker.acquire().trial


def test_state_gauge_and_snapshot() -> None:
    registry = CollectorRegistry()
    clock = FakeClock()
    breakers = CircuitBreakers(registry, clock=clock)
    openai = breakers.get("openai", failure_threshold=1, reset_timeout_seconds=5)
    breakers.get("pinecone")
    assert breakers.get("openai") is openai

    def gauge(service: str) -> float | None:
        return registry.get_sample_value(CIRCUIT_STATE_METRIC, {"service": service})

    assert gauge("openai") == 0
    openai.acquire().failure()
    assert gauge("openai") == 2
    assert gauge("pinecone") == 0
    snapshot = breakers.snapshot()
    assert snapshot["openai"]["state"] == "open"
    assert snapshot["openai"]["retry_after_seconds"] == 5
    assert snapshot["pinecone"]["state"] == "closed"
    clock.now += 5
    assert gauge("openai") == 1  # read at scrape time: half-open without waiting for a call


async def test_call_counts_failures_and_passes_exceptions_through() -> None:
    breaker, _, _ = breaker_with_clock(threshold=2)

    async def fail() -> None:
        raise Boom(None)

    for _ in range(2):
        with pytest.raises(Boom):
            await breaker.call(fail)
    with pytest.raises(CircuitOpen):
        await breaker.call(fail)


async def test_resilient_retries_retryable_failures_a_bounded_number_of_times() -> None:
    breaker, _, _ = breaker_with_clock(threshold=10)
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise Boom(Failure.RETRYABLE)
        return "ok"

    assert (
        await resilient(flaky, breaker=breaker, policy=FAST, timeout_seconds=1, classify=classify)
        == "ok"
    )
    assert calls == 3
    assert breaker.consecutive_failures == 0

    calls = -100  # never succeeds within the attempts

    with pytest.raises(ServiceUnavailable) as caught:
        await resilient(flaky, breaker=breaker, policy=FAST, timeout_seconds=1, classify=classify)
    assert calls == -97
    assert caught.value.retryable
    assert isinstance(caught.value.__cause__, Boom)
    assert breaker.consecutive_failures == 3


@pytest.mark.parametrize(("kind", "counted"), [(Failure.REJECTED, 0), (Failure.UNHEALTHY, 1)])
async def test_non_retryable_failures_are_tried_once(kind: Failure, counted: int) -> None:
    breaker, _, _ = breaker_with_clock()
    calls = 0

    async def refuse() -> None:
        nonlocal calls
        calls += 1
        raise Boom(kind)

    with pytest.raises(ServiceUnavailable) as caught:
        await resilient(refuse, breaker=breaker, policy=FAST, timeout_seconds=1, classify=classify)
    assert calls == 1
    assert not caught.value.retryable
    assert breaker.consecutive_failures == counted


async def test_unknown_errors_pass_through_untouched_and_uncounted() -> None:
    breaker, _, _ = breaker_with_clock()

    async def bug() -> None:
        raise Boom(None)

    with pytest.raises(Boom):
        await resilient(bug, breaker=breaker, policy=FAST, timeout_seconds=1, classify=classify)
    assert breaker.consecutive_failures == 0


async def test_each_attempt_is_timed_out_and_counted() -> None:
    breaker, _, _ = breaker_with_clock(threshold=2)
    calls = 0

    async def hang() -> None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(10)

    with pytest.raises(ServiceUnavailable, match="in time"):
        await resilient(
            hang, breaker=breaker, policy=NO_RETRY, timeout_seconds=0.02, classify=classify
        )
    assert calls == 1
    with pytest.raises(CircuitOpen) as caught:
        await resilient(hang, breaker=breaker, policy=FAST, timeout_seconds=0.02, classify=classify)
    # Its first attempt timed out too and opened the circuit; the retry was refused.
    assert calls == 2
    assert caught.value.retry_after_seconds == 30
    assert state_of(breaker) is CircuitState.OPEN
    with pytest.raises(CircuitOpen):
        await resilient(hang, breaker=breaker, policy=FAST, timeout_seconds=0.02, classify=classify)
    assert calls == 2


async def test_a_deadline_bounds_all_attempts_together() -> None:
    breaker, _, _ = breaker_with_clock(threshold=100)
    policy = RetryPolicy(
        attempts=50,
        initial_backoff_seconds=0,
        max_backoff_seconds=0,
        jitter_seconds=0,
        deadline_seconds=0.1,
    )

    async def hang() -> None:
        await asyncio.sleep(10)

    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(ServiceUnavailable):
        await resilient(
            hang, breaker=breaker, policy=policy, timeout_seconds=0.03, classify=classify
        )
    assert loop.time() - started < 0.5


async def test_cancellation_releases_the_trial_slot() -> None:
    breaker, clock, _ = breaker_with_clock(threshold=1)
    breaker.acquire().failure()
    clock.now += 30

    entered = asyncio.Event()

    async def hang() -> None:
        entered.set()  # the call holds the trial slot from here
        await asyncio.Event().wait()  # until cancelled

    task = asyncio.create_task(
        resilient(hang, breaker=breaker, policy=FAST, timeout_seconds=5, classify=classify)
    )
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert state_of(breaker) is CircuitState.HALF_OPEN
    assert breaker.acquire().trial


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker("x", failure_threshold=0)
    with pytest.raises(ValueError, match="reset_timeout"):
        CircuitBreaker("x", reset_timeout_seconds=0)
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)
