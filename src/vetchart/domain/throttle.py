"""Sign-in throttling: leaky buckets of failures, per (account, client network) and per
account.

A bucket's level is ``failure_count`` as measured at ``window_started_at``; it drains by
one every ``rules.decay``, so failures spread out slowly enough (someone's own typos) never
add up. A failure adds one; reaching ``rules.threshold`` locks the key.

* Per (account, client network) — the *pair* — the lock grows with each lockout (base,
  doubled, capped) and the bucket empties when it locks: the lock is the price.
* Per account, over every address — the *ceiling* — the lock has one short length and the
  bucket stays full, draining only by decay: however the locks fall, failures on the
  account are held to one per ``decay`` in the long run.

Keys live in one table, told apart by prefix (:func:`password_keys`, :func:`mfa_keys`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from uuid import UUID


@dataclass(frozen=True)
class LockoutRules:
    threshold: int
    # The bucket drains by one failure every ``decay``.
    decay: timedelta
    base_lock: timedelta
    max_lock: timedelta
    # True (per address): the bucket empties when it locks. False (the account ceiling):
    # it stays full and drains only by decay, however long the lock.
    empty_on_lock: bool = True


@dataclass(frozen=True)
class LockoutPolicy:
    """The throttles of both sign-in factors."""

    # Per (account, client network), for passwords and for MFA codes alike.
    pair: LockoutRules
    # Per account over every address: passwords (sign-in and password change)...
    account: LockoutRules
    # ...and MFA codes (sign-in step and turning MFA off).
    mfa_account: LockoutRules
    # An address with a full sign-in of the account this recently is not held by the
    # account-wide lock (its own pair throttle still applies). Zero: never.
    known_address_for: timedelta


@dataclass(frozen=True)
class ThrottleState:
    key: str
    # The bucket's level, as of window_started_at (for a success marker: the success).
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


def drained(state: ThrottleState, now: datetime, rules: LockoutRules) -> ThrottleState:
    """The state with the failures forgiven by ``now`` taken off. Whole decay periods only:
    the part of a period already elapsed still counts towards the next one."""
    if state.failure_count == 0:
        return replace(state, window_started_at=now)
    periods = (now - state.window_started_at) // rules.decay
    if periods <= 0:
        return state
    if periods >= state.failure_count:
        return replace(state, failure_count=0, window_started_at=now)
    return replace(
        state,
        failure_count=state.failure_count - periods,
        window_started_at=state.window_started_at + periods * rules.decay,
    )


def _lock_length(rules: LockoutRules, level: int) -> timedelta:
    """base * 2**level, capped at max (doubling stops at the cap: levels grow without
    bound on a key that keeps locking, and 2**level would overflow a timedelta)."""
    lock = rules.base_lock
    for _ in range(level):
        if lock >= rules.max_lock:
            break
        lock *= 2
    return min(lock, rules.max_lock)


def register_failure(state: ThrottleState, now: datetime, rules: LockoutRules) -> ThrottleState:
    """One more failure. Reaching the threshold locks for base * 2**level (capped).

    A key that is locked already is left as it is: the lock in force is not extended (the
    account lock does not grow while an address it lets through keeps failing)."""
    if state.is_locked(now):
        return state
    state = drained(state, now, rules)
    count = state.failure_count + 1
    if count < rules.threshold:
        return replace(state, failure_count=count)
    lock = _lock_length(rules, state.lockout_level)
    return replace(
        state,
        failure_count=0 if rules.empty_on_lock else rules.threshold,
        window_started_at=now if rules.empty_on_lock else state.window_started_at,
        locked_until=now + lock,
        lockout_level=state.lockout_level + 1,
    )


def register_success(state: ThrottleState, now: datetime) -> ThrottleState:
    """A success clears the failure count; the lockout level decays only on unlock."""
    return replace(state, failure_count=0, window_started_at=now, locked_until=None)


def succeeded_within(marker: ThrottleState | None, now: datetime, period: timedelta) -> bool:
    """Whether a success marker (see :class:`ThrottleKeys`) records a success this recent."""
    return marker is not None and period > timedelta(0) and now - marker.window_started_at <= period


PAIR = "pair"
ACCOUNT = "account"


def lock_in_force(
    pair: ThrottleState | None,
    account: ThrottleState | None,
    known: ThrottleState | None,
    now: datetime,
    known_address_for: timedelta,
) -> tuple[str, ThrottleState] | None:
    """The lock that refuses an attempt now, with its scope (``pair`` or ``account``), or
    None. The account-wide lock does not hold an address with a recent full sign-in
    (``known``); when both hold, the one that ends last."""
    held: list[tuple[str, ThrottleState]] = []
    if pair is not None and pair.is_locked(now):
        held.append((PAIR, pair))
    if (
        account is not None
        and account.is_locked(now)
        and not succeeded_within(known, now, known_address_for)
    ):
        held.append((ACCOUNT, account))
    return max(held, key=lambda item: item[1].retry_after_seconds(now)) if held else None


# ---------------------------------------------------------------- keys


def client_network(address: str | None) -> str:
    """The client part of a pair key: an IPv4 address whole, an IPv6 address as its /64
    (one subscriber's allocation: rotating within it does not make a new pair)."""
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address.strip().lower()[:100]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


@dataclass(frozen=True)
class ThrottleKeys:
    """The throttle keys of one sign-in factor for one account name and client network."""

    network: str
    # Failures of this account name from this network.
    pair: str
    # Failures of this account name from everywhere.
    account: str
    # The last full sign-in from this network (None for an unknown account).
    known: str | None


def _known_key(user_id: UUID | None, network: str) -> str | None:
    return f"login-known:{user_id}|{network}" if user_id is not None else None


def password_keys(email: str, user_id: UUID | None, address: str | None) -> ThrottleKeys:
    """Password failures (sign-in and password change) are counted by the account *name*
    (the email as typed, normalised, whether or not it exists)."""
    return _keys("login", email, user_id, address)


def mfa_keys(user_id: UUID, address: str | None) -> ThrottleKeys:
    return _keys("mfa", user_id, user_id, address)


def _keys(kind: str, account: object, user_id: UUID | None, address: str | None) -> ThrottleKeys:
    """The keys of one kind of attempt on ``account`` (its name) from ``address``."""
    network = client_network(address)
    return ThrottleKeys(
        network=network,
        pair=f"{kind}:{account}|{network}",
        account=f"{kind}-account:{account}",
        known=_known_key(user_id, network),
    )


def lockout_keys(email: str, user_id: UUID) -> tuple[list[str], list[str]]:
    """The keys (exact, and prefixes) that can hold a lockout of this account: both
    factors, every address, the ceilings, and the single keys of before the per-address
    throttle. Not the success markers: they lock nothing."""
    exact = [f"login-account:{email}", f"mfa-account:{user_id}", f"login:{email}", f"mfa:{user_id}"]
    prefixes = [f"login:{email}|", f"mfa:{user_id}|"]
    return exact, prefixes
