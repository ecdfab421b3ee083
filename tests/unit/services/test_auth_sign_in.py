"""Sign-up and the password step of sign-in (services/auth/sign_in.py) on the in-memory
fakes: what is stored, what is answered, and the audit row of every outcome."""

from __future__ import annotations

import pytest

from tests.unit.services.auth_setup import HOME, PASSWORD, Auth
from vetchart.domain.errors import Conflict, RuleViolation, Unauthenticated, Unavailable
from vetchart.domain.throttle import password_keys
from vetchart.domain.users import NewAccount, Role
from vetchart.services.auth.sessions import TokenPair


async def test_signup_stores_a_pet_owner_and_audits_it() -> None:
    auth = Auth()
    user = await auth.service.signup(
        NewAccount(email="  New.Owner@Example.COM ", full_name="New Owner", password=PASSWORD), HOME
    )
    assert (user.email, user.role, user.practice_id) == (
        "new.owner@example.com",
        Role.PET_OWNER,
        None,
    )
    assert await auth.user(user.id) == user
    assert user.password_hash == auth.hasher.prefix + PASSWORD
    [row] = auth.db.audit
    assert (row.entry.action, row.entry.actor_id, row.entry.resource_id) == (
        "user.signup",
        user.id,
        str(user.id),
    )
    assert row.meta == HOME


async def test_signup_with_a_taken_email_is_a_conflict_and_stores_nothing() -> None:
    auth = Auth()
    await auth.add_user("taken@example.com")
    with pytest.raises(Conflict) as taken:
        await auth.service.signup(
            NewAccount(email="Taken@example.com", full_name="Someone", password=PASSWORD), HOME
        )
    assert taken.value.code == "email-taken"
    assert auth.actions() == []


async def test_signup_refuses_a_guessable_password() -> None:
    auth = Auth()
    with pytest.raises(RuleViolation):
        await auth.service.signup(
            NewAccount(email="weak@example.com", full_name="Weak", password="password123"), HOME
        )
    assert auth.db.tables.users == {}


async def test_login_opens_a_session_with_a_refresh_token() -> None:
    auth = Auth()
    user = await auth.add_user()
    tokens = await auth.sign_in()
    session = auth.db.tables.sessions[tokens.session_id]
    assert (session.user_id, session.client_address, session.revoked_at) == (
        user.id,
        HOME.client_address,
        None,
    )
    assert [t.session_id for t in auth.db.tables.refresh_tokens.values()] == [session.id]
    principal = await auth.principal(tokens)
    assert (principal.user_id, principal.session_id) == (user.id, tokens.session_id)
    assert auth.actions() == ["auth.login"]
    assert auth.details("auth.login") == [{"session_id": str(tokens.session_id), "rehashed": False}]
    # The address is remembered as one the account signed in from.
    keys = password_keys(user.email, user.id, HOME.client_address)
    assert keys.known is not None
    assert await auth.throttle(keys.known) is not None


async def test_a_wrong_password_and_an_unknown_account_get_the_same_answer() -> None:
    auth = Auth()
    await auth.add_user()
    with pytest.raises(Unauthenticated) as wrong:
        await auth.service.login(email="casey@example.com", password="not-it", meta=HOME)
    with pytest.raises(Unauthenticated) as unknown:
        await auth.service.login(email="nobody@example.com", password="not-it", meta=HOME)
    assert wrong.value.detail == unknown.value.detail
    assert auth.hasher.dummy_verifications == 1  # the unknown account costs a hash too
    assert auth.actions() == ["auth.login_failed", "auth.login_failed"]
    assert [d["known_account"] for d in auth.details("auth.login_failed")] == [True, False]
    assert auth.db.tables.sessions == {}


async def test_an_inactive_account_cannot_sign_in() -> None:
    auth = Auth()
    await auth.add_user(active=False)
    with pytest.raises(Unauthenticated):
        await auth.service.login(email="casey@example.com", password=PASSWORD, meta=HOME)
    assert auth.actions() == ["auth.login_failed"]


async def test_an_outdated_hash_is_replaced_at_sign_in() -> None:
    auth = Auth()
    user = await auth.add_user()
    auth.hasher.version = 2  # new hashing parameters
    tokens = await auth.sign_in()
    assert auth.details("auth.login") == [{"session_id": str(tokens.session_id), "rehashed": True}]
    assert (await auth.user(user.id)).password_hash == "fake2$" + PASSWORD
    await auth.sign_in()
    assert auth.details("auth.login")[-1]["rehashed"] is False


async def test_an_overloaded_hasher_sheds_without_counting_or_auditing() -> None:
    auth = Auth()
    await auth.add_user()
    auth.hasher.overloaded = True
    with pytest.raises(Unavailable):
        await auth.service.login(email="casey@example.com", password="wrong", meta=HOME)
    assert auth.actions() == []
    assert auth.db.tables.throttles == {}
    auth.hasher.overloaded = False
    assert isinstance(await auth.sign_in(), TokenPair)
