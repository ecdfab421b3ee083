"""Changing one's password (services/auth/password_change.py) on the in-memory fakes: it
needs the current password, revokes every other session, and a wrong current password
counts as a failed sign-in."""

from __future__ import annotations

import pytest

from tests.unit.services.auth_setup import HOME, NEW_PASSWORD, PAIR_THRESHOLD, PASSWORD, Auth
from vetchart.domain.errors import Locked, RuleViolation, Unauthenticated
from vetchart.domain.throttle import password_keys


async def test_the_new_password_signs_in_and_other_sessions_end() -> None:
    auth = Auth()
    user = await auth.add_user()
    here, elsewhere = await auth.sign_in(), await auth.sign_in()
    actor = await auth.principal(here)
    await auth.service.change_password(
        actor, current_password=PASSWORD, new_password=NEW_PASSWORD, meta=HOME
    )
    stored = await auth.user(user.id)
    assert stored.password_hash == auth.hasher.prefix + NEW_PASSWORD
    assert stored.password_changed_at == auth.db.clock.now()
    assert auth.details("auth.password_change") == [{"revoked_sessions": 1}]
    await auth.principal(here)  # this session goes on
    with pytest.raises(Unauthenticated):
        await auth.principal(elsewhere)
    with pytest.raises(Unauthenticated):
        await auth.service.login(email=user.email, password=PASSWORD, meta=HOME)
    await auth.sign_in(password=NEW_PASSWORD)


async def test_a_wrong_current_password_counts_as_a_failed_sign_in() -> None:
    auth = Auth()
    user = await auth.add_user()
    actor = await auth.principal(await auth.sign_in())
    for _ in range(PAIR_THRESHOLD):
        with pytest.raises(RuleViolation) as wrong:
            await auth.service.change_password(
                actor, current_password="not-it", new_password=NEW_PASSWORD, meta=HOME
            )
        assert wrong.value.rule == "current_password.incorrect"
    pair = await auth.throttle(password_keys(user.email, user.id, HOME.client_address).pair)
    assert pair is not None
    # The pair is locked now: for the change and for signing in alike.
    with pytest.raises(Locked):
        await auth.service.change_password(
            actor, current_password=PASSWORD, new_password=NEW_PASSWORD, meta=HOME
        )
    with pytest.raises(Locked):
        await auth.service.login(email=user.email, password=PASSWORD, meta=HOME)
    assert (await auth.user(user.id)).password_hash == auth.hasher.prefix + PASSWORD
    assert auth.details("auth.password_change")[-1] == {"reason": "locked", "scope": "pair"}


@pytest.mark.parametrize(
    ("new_password", "rule"),
    [(PASSWORD, "password.unchanged"), ("password123", None)],
    ids=["unchanged", "guessable"],
)
async def test_the_new_password_must_be_new_and_strong(new_password: str, rule: str | None) -> None:
    auth = Auth()
    user = await auth.add_user()
    actor = await auth.principal(await auth.sign_in())
    with pytest.raises(RuleViolation) as refused:
        await auth.service.change_password(
            actor, current_password=PASSWORD, new_password=new_password, meta=HOME
        )
    if rule is not None:
        assert refused.value.rule == rule
    assert refused.value.field == "new_password"
    assert (await auth.user(user.id)).password_hash == auth.hasher.prefix + PASSWORD
    assert "auth.password_change" not in auth.actions()
