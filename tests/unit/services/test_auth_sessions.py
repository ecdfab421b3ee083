"""Sessions and their tokens (services/auth/sessions.py) on the in-memory fakes: refresh
rotation and reuse, authentication, sign-out, and a user's own sessions."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.unit.services.auth_setup import AWAY, HOME, IDLE_OWNER, Auth
from vetchart.domain.errors import NotFound, Unauthenticated


async def test_refresh_rotates_the_token_within_the_session() -> None:
    auth = Auth()
    await auth.add_user()
    first = await auth.sign_in()
    second = await auth.service.refresh(refresh_token=first.refresh_token, meta=HOME)
    assert second.session_id == first.session_id
    assert second.refresh_token != first.refresh_token
    third = await auth.service.refresh(refresh_token=second.refresh_token, meta=HOME)
    assert third.session_id == first.session_id
    assert auth.actions() == ["auth.login", "auth.refresh", "auth.refresh"]


async def test_a_spent_refresh_token_presented_again_revokes_the_session() -> None:
    auth = Auth()
    await auth.add_user()
    tokens = await auth.sign_in()
    principal = await auth.principal(tokens)  # cached from now on
    await auth.service.refresh(refresh_token=tokens.refresh_token, meta=HOME)
    with pytest.raises(Unauthenticated):
        await auth.service.refresh(refresh_token=tokens.refresh_token, meta=AWAY)
    session = auth.db.tables.sessions[tokens.session_id]
    assert session.revoked_reason == "refresh_token_reuse"
    assert auth.details("auth.refresh_reuse") == [
        {"session_id": str(tokens.session_id), "revoked": True}
    ]
    assert auth.cache.get(principal.session_id) is None  # forgotten at once
    with pytest.raises(Unauthenticated):
        await auth.principal(tokens)


async def test_an_unknown_refresh_token_is_refused_without_an_audit_row() -> None:
    auth = Auth()
    with pytest.raises(Unauthenticated):
        await auth.service.refresh(refresh_token="never-issued", meta=HOME)
    assert auth.actions() == []


async def test_an_idle_session_cannot_be_refreshed() -> None:
    auth = Auth()
    await auth.add_user()
    tokens = await auth.sign_in()
    auth.advance(IDLE_OWNER + timedelta(seconds=1))
    with pytest.raises(Unauthenticated):
        await auth.service.refresh(refresh_token=tokens.refresh_token, meta=HOME)
    assert auth.details("auth.refresh") == [
        {"session_id": str(tokens.session_id), "reason": "session_ended"}
    ]


async def test_logout_ends_the_session_and_logout_all_every_session() -> None:
    auth = Auth()
    await auth.add_user()
    sessions = [await auth.sign_in() for _ in range(3)]
    first = await auth.principal(sessions[0])
    await auth.service.logout(first, HOME)
    with pytest.raises(Unauthenticated):
        await auth.principal(sessions[0])
    second = await auth.principal(sessions[1])
    assert {s.id for s in await auth.service.list_sessions(second)} == {
        sessions[1].session_id,
        sessions[2].session_id,
    }
    await auth.service.logout_all(second, HOME)
    for tokens in sessions[1:]:
        with pytest.raises(Unauthenticated):
            await auth.principal(tokens)
    assert auth.details("auth.logout")[-1] == {"all_sessions": True, "revoked": 2}


async def test_a_user_revokes_their_own_session_but_not_anothers() -> None:
    auth = Auth()
    await auth.add_user()
    await auth.add_user("other@example.com")
    mine = [await auth.sign_in(), await auth.sign_in()]
    theirs = await auth.sign_in("other@example.com")
    me = await auth.principal(mine[0])
    with pytest.raises(NotFound):
        await auth.service.revoke_session(me, theirs.session_id, HOME)
    await auth.principal(theirs)  # still signed in
    await auth.service.revoke_session(me, mine[1].session_id, HOME)
    assert auth.db.tables.sessions[mine[1].session_id].revoked_reason == "revoked_by_user"
    assert [s.id for s in await auth.service.list_sessions(me)] == [mine[0].session_id]
