"""Circuit breakers for outside services, and ``resilient()``: timeout + bounded retries
with jitter + breaker around one outside call.

A breaker per service: **closed** (calls pass; consecutive failures are counted) →
**open** after ``failure_threshold`` consecutive failures (calls are refused at once
with ``CircuitOpen``, the service is not touched) → **half-open** once
``reset_timeout_seconds`` have passed (exactly one trial call is let through; other
calls are still refused) → **closed** when the trial succeeds, **open** again when it
fails. States are exported as the gauge ``vetchart_circuit_state{service}``
(0 closed, 1 half-open, 2 open), read at scrape time.

Why not purgatory: its half-open state lets every concurrent call through rather than
one trial, it reads the wall clock (``time.time``) with no way to inject one, and its
open → half-open change only happens when a call arrives, so a gauge would lag.
"""

from __future__ import annotations

import asyncio
import enum
import math
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import structlog
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from vetchart.services.ports.ai import CircuitOpen, ServiceUnavailable

log = structlog.get_logger(__name__)

T = TypeVar("T")

CIRCUIT_STATE_METRIC: Final = "vetchart_circuit_state"


class CircuitState(enum.IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", "-")


StateListener = Callable[[str, CircuitState], None]


@dataclass(frozen=True)
class BreakerSnapshot:
    service: str
    state: str
    consecutive_failures: int
    failure_threshold: int
    reset_timeout_seconds: float
    # Seconds until an open circuit lets a trial call through; None unless open.
    retry_after_seconds: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "state": self.state,
            "consecutive_failures": self.consecutive_failures,
            "failure_threshold": self.failure_threshold,
            "reset_timeout_seconds": self.reset_timeout_seconds,
            "retry_after_seconds": self.retry_after_seconds,
        }


class Permit:
    """Leave to make one call. Settle it exactly once: ``success``, ``failure`` or
    ``release`` (the call ended in a way that says nothing about the service)."""

    __slots__ = ("_breaker", "_settled", "trial")

    def __init__(self, breaker: CircuitBreaker, *, trial: bool) -> None:
        self._breaker = breaker
        self.trial = trial
        self._settled = False

    def _settle(self) -> bool:
        if self._settled:
            return False
        self._settled = True
        return True

    def success(self) -> None:
        if self._settle():
            self._breaker._on_success(self.trial)

    def failure(self) -> None:
        if self._settle():
            self._breaker._on_failure(self.trial)

    def release(self) -> None:
        if self._settle():
            self._breaker._on_release(self.trial)


class CircuitBreaker:
    """One service's breaker. Not thread-safe: use it from one event loop."""

    def __init__(
        self,
        service: str,
        *,
        failure_threshold: int = 5,
        reset_timeout_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        listener: StateListener | None = None,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if reset_timeout_seconds <= 0:
            raise ValueError("reset_timeout_seconds must be positive")
        self.service = service
        self.failure_threshold = failure_threshold
        self.reset_timeout_seconds = reset_timeout_seconds
        self._clock = clock
        self._listeners: list[StateListener] = [listener] if listener else []
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False

    def add_listener(self, listener: StateListener) -> None:
        self._listeners.append(listener)

    @property
    def state(self) -> CircuitState:
        self._refresh()
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def _set(self, state: CircuitState) -> None:
        if state is self._state:
            return
        self._state = state
        log.info("circuit.state_changed", service=self.service, state=state.label)
        for listener in self._listeners:
            listener(self.service, state)

    def _refresh(self) -> None:
        if (
            self._state is CircuitState.OPEN
            and self._clock() - self._opened_at >= self.reset_timeout_seconds
        ):
            self._set(CircuitState.HALF_OPEN)

    def _remaining(self) -> float:
        return max(0.0, self._opened_at + self.reset_timeout_seconds - self._clock())

    def acquire(self) -> Permit:
        """A permit to call the service, or ``CircuitOpen`` at once."""
        self._refresh()
        if self._state is CircuitState.CLOSED:
            return Permit(self, trial=False)
        if self._state is CircuitState.HALF_OPEN and not self._trial_in_flight:
            self._trial_in_flight = True
            return Permit(self, trial=True)
        retry_after = self._remaining() if self._state is CircuitState.OPEN else 1.0
        raise CircuitOpen(self.service, retry_after_seconds=max(1, math.ceil(retry_after)))

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._set(CircuitState.OPEN)

    def _on_success(self, trial: bool) -> None:
        if trial:
            self._trial_in_flight = False
            self._failures = 0
            self._set(CircuitState.CLOSED)
        elif self._state is CircuitState.CLOSED:
            self._failures = 0

    def _on_failure(self, trial: bool) -> None:
        if trial:
            self._trial_in_flight = False
            self._failures += 1
            self._open()
        elif self._state is CircuitState.CLOSED:
            self._failures += 1
            if self._failures >= self.failure_threshold:
                self._open()

    def _on_release(self, trial: bool) -> None:
        if trial:
            self._trial_in_flight = False

    async def call(
        self,
        fn: Callable[[], Awaitable[T]],
        *,
        is_failure: Callable[[BaseException], bool] = lambda exc: isinstance(exc, Exception),
    ) -> T:
        """Run ``fn`` under the breaker; its exceptions pass through unchanged."""
        permit = self.acquire()
        try:
            result = await fn()
        except BaseException as exc:
            if isinstance(exc, Exception) and is_failure(exc):
                permit.failure()
            else:
                permit.release()
            raise
        permit.success()
        return result

    def snapshot(self) -> BreakerSnapshot:
        state = self.state
        return BreakerSnapshot(
            service=self.service,
            state=state.label,
            consecutive_failures=self._failures,
            failure_threshold=self.failure_threshold,
            reset_timeout_seconds=self.reset_timeout_seconds,
            retry_after_seconds=round(self._remaining(), 3) if state is CircuitState.OPEN else None,
        )


class _BreakerCollector(Collector):
    def __init__(self, breakers: CircuitBreakers) -> None:
        self._breakers = breakers

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            CIRCUIT_STATE_METRIC,
            "Circuit breaker state per outside service: 0 closed, 1 half-open, 2 open.",
            labels=["service"],
        )
        for breaker in self._breakers.all():
            gauge.add_metric([breaker.service], float(breaker.state))
        yield gauge


class _LateBreakerCollector(Collector):
    """The gauge of breakers that exist later than the registry (built at start-up)."""

    def __init__(self, source: Callable[[], CircuitBreakers | None]) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        breakers = self._source()
        if breakers is None:
            yield GaugeMetricFamily(
                CIRCUIT_STATE_METRIC,
                "Circuit breaker state per outside service: 0 closed, 1 half-open, 2 open.",
                labels=["service"],
            )
            return
        yield from _BreakerCollector(breakers).collect()


def circuit_state_collector(source: Callable[[], CircuitBreakers | None]) -> Collector:
    """A collector of ``vetchart_circuit_state`` reading the breakers ``source`` returns at
    each scrape (None: none yet), for a registry made before the breakers are."""
    return _LateBreakerCollector(source)


class CircuitBreakers:
    """The breakers of one process, one per service, with their gauge and health view."""

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._breakers: dict[str, CircuitBreaker] = {}
        if registry is not None:
            registry.register(_BreakerCollector(self))

    def get(
        self,
        service: str,
        *,
        failure_threshold: int = 5,
        reset_timeout_seconds: float = 30.0,
    ) -> CircuitBreaker:
        """The service's breaker, created with these settings on first use."""
        breaker = self._breakers.get(service)
        if breaker is None:
            breaker = CircuitBreaker(
                service,
                failure_threshold=failure_threshold,
                reset_timeout_seconds=reset_timeout_seconds,
                clock=self._clock,
            )
            self._breakers[service] = breaker
        return breaker

    def all(self) -> list[CircuitBreaker]:
        return [self._breakers[name] for name in sorted(self._breakers)]

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Health details: ``{service: {state, consecutive_failures, ...}}``."""
        return {breaker.service: breaker.snapshot().as_dict() for breaker in self.all()}


# --------------------------------------------------------------------------- resilient


class Failure(enum.Enum):
    """How an adapter classifies an exception from its outside service."""

    RETRYABLE = "retryable"  # timeouts, connection errors, 429, 5xx: retry, counts as failure
    UNHEALTHY = "unhealthy"  # e.g. 401/403, malformed responses: no retry, counts
    REJECTED = "rejected"  # e.g. 400/404/422: the service is up but refused: no retry


Classifier = Callable[[Exception], Failure | None]


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and jitter. ``attempts`` includes the
    first call; ``deadline_seconds`` (optional) bounds all attempts together."""

    attempts: int = 3
    initial_backoff_seconds: float = 0.2
    max_backoff_seconds: float = 2.0
    jitter_seconds: float = 0.2
    deadline_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")


NO_RETRY: Final = RetryPolicy(attempts=1)


def _retryable(exc: BaseException) -> bool:
    return (
        isinstance(exc, ServiceUnavailable) and exc.retryable and not isinstance(exc, CircuitOpen)
    )


def _log_retry(service: str, operation: str) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning(
            "outside_service.retry",
            service=service,
            operation=operation,
            attempt=state.attempt_number,
            error=type(error.__cause__ or error).__name__ if error else None,
        )

    return before_sleep


def _no_answer_in_time(service: str, *, retryable: bool) -> ServiceUnavailable:
    return ServiceUnavailable(
        service, f"The {service} service did not answer in time.", retryable=retryable
    )


async def _attempt(
    call: Callable[[], Awaitable[T]],
    *,
    breaker: CircuitBreaker,
    timeout_seconds: float,
    classify: Classifier,
    operation: str,
) -> T:
    service = breaker.service
    permit = breaker.acquire()
    try:
        async with asyncio.timeout(timeout_seconds):
            result = await call()
    except TimeoutError as exc:
        permit.failure()
        raise _no_answer_in_time(service, retryable=True) from exc
    except Exception as exc:
        kind = classify(exc)
        if kind is None:
            permit.release()
            raise
        if kind is Failure.REJECTED:
            permit.success()  # it answered: the service itself is healthy
        else:
            permit.failure()
        log.warning(
            "outside_service.error",
            service=service,
            operation=operation,
            kind=kind.value,
            error=type(exc).__name__,
        )
        raise ServiceUnavailable(
            service,
            f"The {service} service could not complete the request.",
            retryable=kind is Failure.RETRYABLE,
        ) from exc
    except BaseException:
        permit.release()  # cancelled: says nothing about the service
        raise
    permit.success()
    return result


async def resilient(
    call: Callable[[], Awaitable[T]],
    *,
    breaker: CircuitBreaker,
    policy: RetryPolicy,
    timeout_seconds: float,
    classify: Classifier,
    operation: str = "call",
) -> T:
    """Call an outside service: each attempt under ``timeout_seconds`` and the breaker,
    retried (with jittered exponential backoff) only on retryable failures, at most
    ``policy.attempts`` times in all.

    Raises ``ServiceUnavailable`` (``CircuitOpen`` when the breaker refuses) with the
    original error as ``__cause__``. Exceptions the classifier does not recognise
    (``None``) pass through unchanged and do not count against the service.
    """
    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.attempts),
        wait=wait_exponential_jitter(
            multiplier=policy.initial_backoff_seconds,
            max=policy.max_backoff_seconds,
            jitter=policy.jitter_seconds,
        ),
        retry=retry_if_exception(_retryable),
        reraise=True,
        before_sleep=_log_retry(breaker.service, operation),
    )

    async def run() -> T:
        async for attempt in retrying:
            with attempt:
                return await _attempt(
                    call,
                    breaker=breaker,
                    timeout_seconds=timeout_seconds,
                    classify=classify,
                    operation=operation,
                )
        raise AssertionError("unreachable")  # pragma: no cover

    if policy.deadline_seconds is None:
        return await run()
    try:
        async with asyncio.timeout(policy.deadline_seconds):
            return await run()
    except TimeoutError as exc:
        raise _no_answer_in_time(breaker.service, retryable=False) from exc


class ResilientCaller:
    """An adapter of one outside service: every call goes through ``resilient()`` with
    the service's breaker, retry policy, per-call timeout and error classifier."""

    def __init__(
        self,
        *,
        breaker: CircuitBreaker,
        retry: RetryPolicy,
        timeout_seconds: float,
        classify: Classifier,
    ) -> None:
        self._breaker = breaker
        self._retry = retry
        self._timeout = timeout_seconds
        self._classify = classify

    async def _call(self, operation: str, call: Callable[[], Awaitable[T]]) -> T:
        return await resilient(
            call,
            breaker=self._breaker,
            policy=self._retry,
            timeout_seconds=self._timeout,
            classify=self._classify,
            operation=operation,
        )
