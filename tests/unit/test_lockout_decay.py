"""The sign-in throttles' maths (``domain.throttle``) with an injected clock: leaky-bucket
decay, the per-(account, address) lock and the account-wide ceiling, the known-address
exception, client networks and keys; and what the default settings allow an attacker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from vetchart.bootstrap import lockout_policy
from vetchart.config import AuthSettings
from vetchart.domain.throttle import (
    ACCOUNT,
    PAIR,
    LockoutPolicy,
    LockoutRules,
    ThrottleState,
    client_network,
    drained,
    lock_in_force,
    lockout_keys,
    mfa_keys,
    password_keys,
    register_failure,
    register_success,
    succeeded_within,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
USER = UUID("0193b3a0-0000-7000-8000-000000000001")
PAIR_RULES = LockoutRules(
    threshold=5,
    decay=timedelta(minutes=3),
    base_lock=timedelta(minutes=5),
    max_lock=timedelta(hours=24),
)
CEILING = LockoutRules(
    threshold=100,
    decay=timedelta(seconds=36),
    base_lock=timedelta(minutes=15),
    max_lock=timedelta(minutes=15),
    empty_on_lock=False,
)
DEFAULTS = lockout_policy(AuthSettings.model_construct())  # the defaults, no environment


def fresh(key: str = "k") -> ThrottleState:
    return ThrottleState.fresh(key, T0)


def fail(state: ThrottleState, now: datetime, rules: LockoutRules, times: int) -> ThrottleState:
    for _ in range(times):
        state = register_failure(state, now, rules)
    return state


# ---------------------------------------------------------------- decay


def test_the_bucket_drains_one_failure_per_decay_period_keeping_partial_progress() -> None:
    state = fail(fresh(), T0, PAIR_RULES, 3)
    assert drained(state, T0 + PAIR_RULES.decay / 2, PAIR_RULES).failure_count == 3
    half_more = drained(state, T0 + PAIR_RULES.decay * 1.5, PAIR_RULES)
    assert half_more.failure_count == 2
    # The half period already elapsed counts towards the next drop.
    assert half_more.window_started_at == T0 + PAIR_RULES.decay
    assert drained(half_more, T0 + PAIR_RULES.decay * 2, PAIR_RULES).failure_count == 1
    empty = drained(state, T0 + PAIR_RULES.decay * 10, PAIR_RULES)
    assert (empty.failure_count, empty.window_started_at) == (0, T0 + PAIR_RULES.decay * 10)


def test_slow_typos_never_add_up_to_a_lock() -> None:
    """Someone's own mistakes, one every decay period for a day, never lock them out."""
    state = fresh()
    now = T0
    for _ in range(480):
        state = register_failure(state, now, PAIR_RULES)
        assert not state.is_locked(now)
        assert state.failure_count == 1
        now += PAIR_RULES.decay


def test_decay_lets_an_address_try_again_without_waiting_out_a_lock() -> None:
    state = fail(fresh(), T0, PAIR_RULES, PAIR_RULES.threshold - 1)
    # Two periods later two failures are forgiven: two more tries, and no lock was ever
    # taken (with the fixed window of before, the second of them locked until T0 + 11m).
    later = T0 + 2 * PAIR_RULES.decay
    state = fail(state, later, PAIR_RULES, 2)
    assert not state.is_locked(later)
    assert state.failure_count == PAIR_RULES.threshold - 1
    assert register_failure(state, later, PAIR_RULES).is_locked(later)


def test_a_first_failure_after_a_quiet_spell_starts_a_full_period() -> None:
    quiet = fresh()  # written at T0, no failure since
    later = T0 + PAIR_RULES.decay * 0.9
    state = register_failure(quiet, later, PAIR_RULES)
    assert state.window_started_at == later
    # It is not forgiven 0.1 periods later, only one whole period after it happened.
    assert drained(state, T0 + PAIR_RULES.decay, PAIR_RULES).failure_count == 1
    assert drained(state, later + PAIR_RULES.decay, PAIR_RULES).failure_count == 0


# ---------------------------------------------------------------- the two scopes


def test_the_pair_lock_empties_the_bucket_and_doubles() -> None:
    state = fail(fresh(), T0, PAIR_RULES, PAIR_RULES.threshold)
    assert state.locked_until == T0 + PAIR_RULES.base_lock
    assert state.failure_count == 0
    after = state.locked_until
    state = fail(state, after, PAIR_RULES, PAIR_RULES.threshold)
    assert state.locked_until == after + 2 * PAIR_RULES.base_lock


def test_lock_length_stays_at_the_cap_however_many_lockouts() -> None:
    """A key that keeps locking (the ceiling under a long attack) reaches levels where
    base * 2**level would overflow."""
    for rules in (PAIR_RULES, CEILING):
        state = ThrottleState("k", 0, T0, None, lockout_level=10_000)
        locked = fail(state, T0, rules, rules.threshold)
        assert locked.locked_until == T0 + rules.max_lock


def test_the_ceiling_lock_is_short_fixed_and_keeps_the_bucket_full() -> None:
    state = fail(fresh(), T0, CEILING, CEILING.threshold - 1)
    assert not state.is_locked(T0)
    state = register_failure(state, T0, CEILING)
    assert state.locked_until == T0 + CEILING.base_lock
    assert state.failure_count == CEILING.threshold
    # While locked, more failures (from an address it lets through) change nothing.
    assert fail(state, T0 + timedelta(minutes=1), CEILING, 10) == state
    # After the lock the bucket has drained only by decay: 900 / 36 = 25 failures.
    end = T0 + CEILING.base_lock
    assert drained(state, end, CEILING).failure_count == CEILING.threshold - 25
    state = fail(state, end, CEILING, 24)
    assert not state.is_locked(end)
    state = register_failure(state, end, CEILING)
    assert state.locked_until == end + CEILING.base_lock  # the same short lock again


def test_success_clears_a_pair_and_marks_the_time() -> None:
    state = fail(fresh(), T0, PAIR_RULES, 3)
    later = T0 + timedelta(seconds=5)
    cleared = register_success(state, later)
    assert (cleared.failure_count, cleared.window_started_at) == (0, later)
    day = timedelta(days=30)
    assert succeeded_within(cleared, later + day, day)
    assert not succeeded_within(cleared, later + day + timedelta(seconds=1), day)
    assert not succeeded_within(None, later, day)
    assert not succeeded_within(cleared, later, timedelta(0))


def test_which_lock_refuses_an_attempt() -> None:
    pair_locked = fail(fresh("p"), T0, PAIR_RULES, PAIR_RULES.threshold)  # 5 minutes
    account_locked = fail(fresh("a"), T0, CEILING, CEILING.threshold)  # 15 minutes
    known = register_success(fresh("m"), T0 - timedelta(days=1))
    stale = register_success(fresh("m"), T0 - timedelta(days=31))
    days = timedelta(days=30)

    assert lock_in_force(None, None, None, T0, days) is None
    assert lock_in_force(pair_locked, None, None, T0, days) == (PAIR, pair_locked)
    assert lock_in_force(None, account_locked, None, T0, days) == (ACCOUNT, account_locked)
    # An address the account recently signed in from is not held by the account lock...
    assert lock_in_force(None, account_locked, known, T0, days) is None
    # ...unless that sign-in is too old, or the exception is turned off.
    assert lock_in_force(None, account_locked, stale, T0, days) == (ACCOUNT, account_locked)
    assert lock_in_force(None, account_locked, known, T0, timedelta(0)) == (
        ACCOUNT,
        account_locked,
    )
    # Its own pair lock still holds it.
    assert lock_in_force(pair_locked, account_locked, known, T0, days) == (PAIR, pair_locked)
    # Both: the one that ends last (its Retry-After is the honest one).
    assert lock_in_force(pair_locked, account_locked, None, T0, days) == (
        ACCOUNT,
        account_locked,
    )


# ---------------------------------------------------------------- addresses and keys


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("203.0.113.10", "203.0.113.10"),
        ("2001:db8:aa:1::1", "2001:db8:aa:1::/64"),
        ("2001:DB8:AA:1:ffff:1:2:3", "2001:db8:aa:1::/64"),
        ("2001:db8:aa:2::1", "2001:db8:aa:2::/64"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
        (None, "unknown"),
        ("testclient", "testclient"),
    ],
)
def test_client_network(address: str | None, network: str) -> None:
    assert client_network(address) == network


def test_keys_share_the_account_and_split_the_addresses() -> None:
    home = password_keys("vet@example.com", USER, "2001:db8:aa:1::1")
    same_64 = password_keys("vet@example.com", USER, "2001:db8:aa:1:9::9")
    elsewhere = password_keys("vet@example.com", USER, "198.51.100.7")
    assert home.pair == same_64.pair != elsewhere.pair
    assert home.account == elsewhere.account == "login-account:vet@example.com"
    assert home.known == f"login-known:{USER}|2001:db8:aa:1::/64"
    # An unknown account never has a success marker.
    assert password_keys("ghost@example.com", None, "198.51.100.7").known is None
    codes = mfa_keys(USER, "198.51.100.7")
    assert codes.pair == f"mfa:{USER}|198.51.100.7"
    assert codes.account == f"mfa-account:{USER}"
    assert codes.known == elsewhere.known  # one marker: a full sign-in, either factor


def test_lockout_keys_cover_every_address_and_only_this_account() -> None:
    exact, prefixes = lockout_keys("vet@example.com", USER)

    def cleared(key: str) -> bool:
        return key in exact or any(key.startswith(prefix) for prefix in prefixes)

    for address in ("198.51.100.7", "2001:db8::1"):
        keys = password_keys("vet@example.com", USER, address)
        assert cleared(keys.pair)
        assert cleared(keys.account)
        codes = mfa_keys(USER, address)
        assert cleared(codes.pair)
        assert cleared(codes.account)
        assert keys.known is not None
        assert not cleared(keys.known)
    assert cleared("login:vet@example.com")  # the single key of before
    other = password_keys("vet@example.com.au", None, "198.51.100.7")
    assert not cleared(other.pair)
    assert not cleared(other.account)


# ---------------------------------------------------------------- the default numbers


def test_default_numbers() -> None:
    assert DEFAULTS.pair == LockoutRules(
        5, timedelta(minutes=3), timedelta(minutes=5), timedelta(hours=24)
    )
    assert DEFAULTS.account == LockoutRules(
        100, timedelta(seconds=36), timedelta(minutes=15), timedelta(minutes=15), False
    )
    assert DEFAULTS.mfa_account == LockoutRules(
        10, timedelta(minutes=15), timedelta(minutes=15), timedelta(minutes=15), False
    )
    assert DEFAULTS.known_address_for == timedelta(days=30)


def attack(
    policy: LockoutPolicy,
    *,
    addresses: int,
    duration: timedelta,
    every: timedelta,
    fresh_address_each_time: bool = False,
) -> tuple[int, int, list[ThrottleState]]:
    """Attackers at ``addresses`` client networks each try a wrong password every
    ``every`` whenever neither their pair nor the account refuses them (a refused attempt
    checks nothing and counts nothing). Returns the failures counted on the account, the
    account lockouts, and the final pair states."""
    pairs = [fresh(f"p{n}") for n in range(addresses)]
    account = fresh("account")
    counted = account_locks = 0
    now = T0
    while now < T0 + duration:
        for n in range(addresses):
            if fresh_address_each_time:
                pairs[n] = ThrottleState.fresh(f"p{n}", now)
            if lock_in_force(pairs[n], account, None, now, policy.known_address_for):
                continue
            pairs[n] = register_failure(pairs[n], now, policy.pair)
            before, account = account, register_failure(account, now, policy.account)
            counted += 1
            account_locks += account.is_locked(now) and not before.is_locked(now)
        now += every
    return counted, account_locks, pairs


@pytest.mark.parametrize("every", [timedelta(seconds=5), DEFAULTS.pair.decay])
def test_one_stranger_cannot_lock_the_account_for_everyone(every: timedelta) -> None:
    """One address as fast as it is let (every 5 s), or paced at the pair's decay so as
    never to be locked (one every 3 minutes), for a week: the ceiling is never reached."""
    counted, account_locks, (pair,) = attack(
        DEFAULTS, addresses=1, duration=timedelta(days=7), every=every
    )
    assert account_locks == 0
    assert counted > 20  # it did keep trying
    if every < DEFAULTS.pair.decay:
        assert pair.lockout_level >= 8  # its own locks grew towards a day


@pytest.mark.parametrize("every", [timedelta(seconds=5), DEFAULTS.pair.decay])
def test_five_addresses_cannot_either(every: timedelta) -> None:
    _, account_locks, _ = attack(DEFAULTS, addresses=5, duration=timedelta(days=1), every=every)
    assert account_locks == 0


def test_six_patient_addresses_can_which_is_why_known_addresses_pass() -> None:
    """Each paced address adds 20 an hour and the ceiling drains 100: the sixth tips it
    (docs/auth.md: the waiver for addresses the account signed in from)."""
    _, account_locks, _ = attack(
        DEFAULTS, addresses=6, duration=timedelta(hours=6), every=DEFAULTS.pair.decay
    )
    assert account_locks >= 1


def test_enough_addresses_trip_the_ceiling() -> None:
    counted, account_locks, _ = attack(
        DEFAULTS, addresses=20, duration=timedelta(seconds=5), every=timedelta(seconds=1)
    )
    assert (counted, account_locks) == (100, 1)


def test_the_ceiling_holds_any_number_of_addresses_to_its_rate() -> None:
    """A new address for every attempt (no pair ever locks): over a day the account
    counts at most the ceiling plus one failure per 36 s."""
    day = timedelta(days=1)
    counted, account_locks, _ = attack(
        DEFAULTS,
        addresses=1,
        duration=day,
        every=timedelta(seconds=1),
        fresh_address_each_time=True,
    )
    assert counted <= DEFAULTS.account.threshold + day // DEFAULTS.account.decay
    assert account_locks > 1
