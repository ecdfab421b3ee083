"""Account lockout: after N failures within a window, lock for a growing period."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta


@dataclass(frozen=True)
class LockoutRules:
    threshold: int
    window: timedelta
    base_lock: timedelta
    max_lock: timedelta


@dataclass(frozen=True)
class ThrottleState:
    key: str
    failure_count: int
    window_started_at: datetime
    locked_until: datetime | None
    lockout_level: int

    @classmethod
    def fresh(cls, key: str, now: datetime) -> ThrottleState:
        return cls(key, 0, now, None, 0)

    def is_locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until

    def retry_after_seconds(self, now: datetime) -> int:
        if self.locked_until is None:
            return 0
        return max(1, int((self.locked_until - now).total_seconds() + 0.999))


def register_failure(state: ThrottleState, now: datetime, rules: LockoutRules) -> ThrottleState:
    """One more failure. Crossing the threshold locks for base * 2**level (capped)."""
    if now - state.window_started_at > rules.window:
        state = replace(state, failure_count=0, window_started_at=now)
    count = state.failure_count + 1
    if count < rules.threshold:
        return replace(state, failure_count=count)
    lock = min(rules.base_lock * (2**state.lockout_level), rules.max_lock)
    return replace(
        state,
        failure_count=0,
        window_started_at=now,
        locked_until=now + lock,
        lockout_level=state.lockout_level + 1,
    )


def register_success(state: ThrottleState, now: datetime) -> ThrottleState:
    """A success clears the failure count; the lockout level decays only on unlock."""
    return replace(state, failure_count=0, window_started_at=now, locked_until=None)
