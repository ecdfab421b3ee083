"""Sign-in throttling (services/auth/lockout.py) on the in-memory fakes: a pair of
(account, address) locks after a few failures, the account ceiling locks every address
but those it recently signed in from, and the locks end."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.unit.services.auth_setup import (
    ACCOUNT_THRESHOLD,
    AWAY,
    HOME,
    PAIR_LOCK,
    PAIR_THRESHOLD,
    PASSWORD,
    Auth,
)
from vetchart.domain.audit import RequestMeta
from vetchart.domain.errors import Locked, Unauthenticated
from vetchart.domain.throttle import password_keys

EMAIL = "casey@example.com"


async def fail(auth: Auth, meta: RequestMeta = HOME, times: int = 1) -> None:
    for _ in range(times):
        with pytest.raises(Unauthenticated):
            await auth.service.login(email=EMAIL, password="wrong-password", meta=meta)


async def test_failures_from_one_address_lock_that_address_only() -> None:
    auth = Auth()
    user = await auth.add_user()
    await fail(auth, HOME, PAIR_THRESHOLD - 1)
    with pytest.raises(Unauthenticated):  # the failure that locks still answers 401
        await auth.service.login(email=EMAIL, password="wrong-password", meta=HOME)
    [lockout] = auth.details("auth.lockout")
    assert (lockout["scope"], lockout["lock_seconds"], lockout["level"]) == (
        "pair",
        int(PAIR_LOCK.total_seconds()),
        1,
    )
    # Now even the right password is refused from there, with the time left...
    with pytest.raises(Locked) as locked:
        await auth.service.login(email=EMAIL, password=PASSWORD, meta=HOME)
    assert locked.value.retry_after_seconds == int(PAIR_LOCK.total_seconds())
    assert auth.details("auth.login_failed")[-1] == {"reason": "locked", "scope": "pair"}
    # ...but not from another address.
    await auth.sign_in(meta=AWAY)
    pair = await auth.throttle(password_keys(EMAIL, user.id, HOME.client_address).pair)
    assert pair is not None


async def test_the_pair_lock_ends_and_a_success_clears_the_count() -> None:
    auth = Auth()
    user = await auth.add_user()
    await fail(auth, HOME, PAIR_THRESHOLD)
    auth.advance(PAIR_LOCK + timedelta(seconds=1))
    await auth.service.login(email=EMAIL, password=PASSWORD, meta=HOME)
    keys = password_keys(EMAIL, user.id, HOME.client_address)
    async with auth.db.uow() as uow:
        pair = await uow.throttles.peek(keys.pair)
    assert pair is not None
    assert (pair.failure_count, pair.locked_until) == (0, None)
    assert pair.lockout_level == 1  # the next lock will be longer


async def test_the_account_ceiling_holds_new_addresses_but_not_known_ones() -> None:
    auth = Auth()
    await auth.add_user()
    await auth.sign_in(meta=HOME)  # HOME becomes a known address
    addresses = [RequestMeta(client_address=f"203.0.113.{n}") for n in range(ACCOUNT_THRESHOLD)]
    for meta in addresses:  # one failure each: no pair locks, the ceiling fills
        await fail(auth, meta)
    assert [d["scope"] for d in auth.details("auth.lockout")] == ["account"]
    with pytest.raises(Locked):
        await auth.service.login(email=EMAIL, password=PASSWORD, meta=AWAY)
    assert auth.details("auth.login_failed")[-1] == {"reason": "locked", "scope": "account"}
    # The owner at home is let through.
    await auth.sign_in(meta=HOME)


async def test_unknown_accounts_are_throttled_by_name_too() -> None:
    auth = Auth()
    for _ in range(PAIR_THRESHOLD):
        with pytest.raises(Unauthenticated):
            await auth.service.login(email="ghost@example.com", password="x", meta=HOME)
    with pytest.raises(Locked):
        await auth.service.login(email="ghost@example.com", password="x", meta=HOME)
    assert "auth.lockout" in auth.actions()
