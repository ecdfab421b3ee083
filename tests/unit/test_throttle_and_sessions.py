"""Unit tests of account lockout (``domain.throttle``) and session usability
(``domain.sessions``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from vetchart.domain.sessions import SessionRecord
from vetchart.domain.throttle import (
    LockoutRules,
    ThrottleState,
    register_failure,
    register_success,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
RULES = LockoutRules(
    threshold=5,
    decay=timedelta(minutes=3),
    base_lock=timedelta(minutes=5),
    max_lock=timedelta(minutes=60),
)


def fail(state: ThrottleState, now: datetime, times: int = 1) -> ThrottleState:
    for _ in range(times):
        state = register_failure(state, now, RULES)
    return state


def lock_once(state: ThrottleState, now: datetime) -> ThrottleState:
    """Fail until the key locks (threshold failures at one instant)."""
    locked = fail(state, now, RULES.threshold)
    assert locked.is_locked(now)
    return locked


# ---------------------------------------------------------------- throttle


def test_fresh_state_is_not_locked() -> None:
    state = ThrottleState.fresh("login:alice", T0)
    assert state.failure_count == 0
    assert state.lockout_level == 0
    assert not state.is_locked(T0)
    assert state.retry_after_seconds(T0) == 0


def test_failures_below_threshold_only_count() -> None:
    state = fail(ThrottleState.fresh("k", T0), T0 + timedelta(seconds=1), RULES.threshold - 1)
    assert state.failure_count == RULES.threshold - 1
    assert not state.is_locked(T0 + timedelta(seconds=1))
    assert state.locked_until is None


def test_reaching_the_threshold_locks_for_the_base_period() -> None:
    now = T0 + timedelta(seconds=30)
    state = fail(ThrottleState.fresh("k", T0), now, RULES.threshold)
    assert state.is_locked(now)
    assert state.locked_until == now + RULES.base_lock
    assert state.lockout_level == 1
    assert state.failure_count == 0  # the next round of failures starts afresh
    assert state.retry_after_seconds(now) == 300
    # Still locked just before the end, free at the end.
    assert state.is_locked(now + RULES.base_lock - timedelta(microseconds=1))
    assert not state.is_locked(now + RULES.base_lock)


@pytest.mark.parametrize("threshold", [1, 3, 10])
def test_threshold_is_the_number_of_failures_that_locks(threshold: int) -> None:
    rules = LockoutRules(threshold, RULES.decay, RULES.base_lock, RULES.max_lock)
    state = ThrottleState.fresh("k", T0)
    for _ in range(threshold - 1):
        state = register_failure(state, T0, rules)
        assert not state.is_locked(T0)
    state = register_failure(state, T0, rules)
    assert state.is_locked(T0)


def test_lock_length_doubles_per_level_and_is_capped() -> None:
    state = ThrottleState.fresh("k", T0)
    now = T0
    lengths = []
    for _ in range(6):
        state = lock_once(state, now)
        assert state.locked_until is not None
        lengths.append(state.locked_until - now)
        now = state.locked_until  # wait out the lock, then fail again
        assert not state.is_locked(now)
    minutes = [int(length.total_seconds() // 60) for length in lengths]
    # 5, 10, 20, 40, then capped at max_lock (60).
    assert minutes == [5, 10, 20, 40, 60, 60]
    assert state.lockout_level == 6


def test_success_clears_failures_but_keeps_the_level() -> None:
    state = lock_once(ThrottleState.fresh("k", T0), T0)
    later = T0 + RULES.base_lock
    state = fail(state, later, 2)
    state = register_success(state, later)
    assert state.failure_count == 0
    assert state.locked_until is None
    assert state.lockout_level == 1  # only an admin unlock decays the level
    # The next lock therefore lasts longer than the first one.
    relocked = lock_once(state, later)
    assert relocked.locked_until == later + 2 * RULES.base_lock


def test_success_before_the_threshold_restarts_the_count() -> None:
    state = fail(ThrottleState.fresh("k", T0), T0, RULES.threshold - 1)
    state = register_success(state, T0)
    state = fail(state, T0, RULES.threshold - 1)
    assert not state.is_locked(T0)


def test_a_drained_bucket_resets_the_count() -> None:
    state = fail(ThrottleState.fresh("k", T0), T0, RULES.threshold - 1)
    drained_at = T0 + RULES.decay * (RULES.threshold - 1)
    state = register_failure(state, drained_at, RULES)
    assert state.failure_count == 1
    assert state.window_started_at == drained_at
    assert not state.is_locked(drained_at)
    # It now takes a full threshold of failures again.
    state = fail(state, drained_at, RULES.threshold - 2)
    assert not state.is_locked(drained_at)
    state = register_failure(state, drained_at, RULES)
    assert state.is_locked(drained_at)


def test_failures_just_inside_one_decay_period_still_count() -> None:
    state = fail(ThrottleState.fresh("k", T0), T0, RULES.threshold - 1)
    edge = T0 + RULES.decay - timedelta(microseconds=1)
    assert register_failure(state, edge, RULES).is_locked(edge)
    # One period later one failure is forgiven: the same failure no longer locks.
    assert not register_failure(state, T0 + RULES.decay, RULES).is_locked(T0 + RULES.decay)


def test_failures_faster_than_the_decay_lock() -> None:
    state = ThrottleState.fresh("k", T0)
    step = RULES.decay / 2
    now = T0
    for _ in range(2 * RULES.threshold):
        now += step
        state = register_failure(state, now, RULES)
        if state.is_locked(now):
            break
    assert state.is_locked(now)


@pytest.mark.parametrize(
    ("elapsed", "expected"),
    [
        (timedelta(0), 300),
        (timedelta(seconds=0.5), 300),  # rounded up: never advertise a retry too early
        (timedelta(seconds=1), 299),
        (timedelta(seconds=299), 1),
        (timedelta(seconds=299.9), 1),
    ],
)
def test_retry_after_seconds_rounds_up_while_locked(elapsed: timedelta, expected: int) -> None:
    state = lock_once(ThrottleState.fresh("k", T0), T0)
    assert state.retry_after_seconds(T0 + elapsed) == expected


def test_state_is_immutable_and_keyed() -> None:
    state = ThrottleState.fresh("login:bob", T0)
    after = register_failure(state, T0, RULES)
    assert state.failure_count == 0
    assert after.key == "login:bob"


# ---------------------------------------------------------------- sessions


def session(**changes: object) -> SessionRecord:
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "user_id": uuid.uuid4(),
        "created_at": T0,
        "last_used_at": T0,
        "expires_at": T0 + timedelta(days=30),
        "idle_timeout_seconds": 3600,
    }
    values.update(changes)
    return SessionRecord(**values)  # type: ignore[arg-type]


def test_fresh_session_is_usable() -> None:
    record = session()
    assert record.is_usable(T0)
    assert record.is_usable(T0 + timedelta(minutes=59))


def test_revoked_session_is_not_usable() -> None:
    record = session(revoked_at=T0 + timedelta(seconds=1), revoked_reason="logout")
    assert not record.is_usable(T0 + timedelta(seconds=2))
    # Revocation wins even within the idle and absolute limits.
    assert not record.is_usable(T0)


def test_session_past_its_absolute_lifetime_is_not_usable() -> None:
    expires = T0 + timedelta(days=30)
    # Used a second ago, so not idle: the absolute lifetime alone ends it.
    record = session(last_used_at=expires - timedelta(seconds=1), expires_at=expires)
    assert record.is_usable(expires - timedelta(microseconds=1))
    assert not record.is_usable(expires)
    assert not record.is_usable(expires + timedelta(days=1))


def test_idle_session_is_not_usable() -> None:
    record = session(idle_timeout_seconds=3600)
    assert record.is_usable(T0 + timedelta(seconds=3599))
    assert not record.is_usable(T0 + timedelta(seconds=3600))
    assert not record.is_usable(T0 + timedelta(hours=5))


def test_recent_use_extends_the_idle_limit_but_not_the_absolute_one() -> None:
    used = T0 + timedelta(days=29, hours=23, minutes=30)
    record = session(last_used_at=used, expires_at=T0 + timedelta(days=30))
    assert record.is_usable(used + timedelta(minutes=29))
    assert not record.is_usable(used + timedelta(minutes=31))  # absolute end, not idle
