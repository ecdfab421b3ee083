"""Two-factor authentication (services/auth/mfa.py, the MFA step of sign_in.py) on the
in-memory fakes: enrolment, the second step with a TOTP or a recovery code, each code
good once, and turning it off."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.unit.services.auth_setup import HOME, PAIR_THRESHOLD, PASSWORD, Auth
from vetchart.domain.errors import Conflict, Locked, RuleViolation, Unauthenticated
from vetchart.domain.policy import Principal
from vetchart.services.auth.sign_in import MfaChallenge

EMAIL = "casey@example.com"


async def enrolled(auth: Auth) -> tuple[Principal, str, list[str]]:
    """A user with MFA on: their principal, TOTP secret and recovery codes."""
    await auth.add_user()
    actor = await auth.principal(await auth.sign_in())
    enrolment = await auth.service.start_totp(actor, HOME)
    codes = await auth.service.confirm_totp(actor, code=auth.code(enrolment.secret), meta=HOME)
    return actor, enrolment.secret, codes


async def challenge(auth: Auth) -> str:
    answer = await auth.service.login(email=EMAIL, password=PASSWORD, meta=HOME)
    assert isinstance(answer, MfaChallenge), answer
    return answer.mfa_token


async def test_enrolment_turns_mfa_on_with_recovery_codes() -> None:
    auth = Auth()
    actor, secret, codes = await enrolled(auth)
    user = await auth.user(actor.user_id)
    assert user.mfa_enabled
    assert user.mfa_pending_secret is None
    assert user.mfa_secret == auth.db.secret_box.seal(secret)  # stored sealed
    assert len(codes) == len(set(codes)) == 3
    stored = auth.db.tables.recovery_codes[user.id]
    assert len(stored) == 3
    assert all(code.used_at is None for code in stored)
    assert auth.actions()[-2:] == ["auth.mfa_enrol_start", "auth.mfa_enable"]
    with pytest.raises(Conflict):
        await auth.service.start_totp(actor, HOME)


async def test_a_wrong_enrolment_code_changes_nothing() -> None:
    auth = Auth()
    await auth.add_user()
    actor = await auth.principal(await auth.sign_in())
    enrolment = await auth.service.start_totp(actor, HOME)
    wrong = "000000" if auth.code(enrolment.secret) != "000000" else "111111"
    with pytest.raises(RuleViolation):
        await auth.service.confirm_totp(actor, code=wrong, meta=HOME)
    assert not (await auth.user(actor.user_id)).mfa_enabled


async def test_sign_in_with_mfa_needs_the_second_step() -> None:
    auth = Auth()
    actor, secret, _ = await enrolled(auth)
    token = await challenge(auth)
    assert auth.actions()[-1] == "auth.mfa_challenge"
    # The enrolment spent this time step's code: the next step's (one step of drift).
    code = auth.code(secret, steps_ahead=1)
    with pytest.raises(Unauthenticated):
        await auth.service.verify_mfa(mfa_token=token, code=auth.code(secret), meta=HOME)
    tokens = await auth.service.verify_mfa(mfa_token=token, code=code, meta=HOME)
    assert auth.details("auth.login")[-1] == {"session_id": str(tokens.session_id), "mfa": "totp"}
    # The same code is good once per time step.
    with pytest.raises(Unauthenticated):
        await auth.service.verify_mfa(mfa_token=token, code=code, meta=HOME)
    assert (await auth.user(actor.user_id)).mfa_last_timestep is not None


async def test_a_recovery_code_is_good_once() -> None:
    auth = Auth()
    _, _, codes = await enrolled(auth)
    token = await challenge(auth)
    await auth.service.verify_mfa(mfa_token=token, code=codes[0].upper(), meta=HOME)
    assert auth.details("auth.login")[-1]["mfa"] == "recovery_code"
    with pytest.raises(Unauthenticated):
        await auth.service.verify_mfa(mfa_token=token, code=codes[0], meta=HOME)
    [stored] = auth.db.tables.recovery_codes.values()
    assert [code.used_at is None for code in stored].count(True) == len(codes) - 1


async def test_wrong_codes_lock_the_second_step() -> None:
    auth = Auth()
    await enrolled(auth)
    token = await challenge(auth)
    for _ in range(PAIR_THRESHOLD):
        with pytest.raises(Unauthenticated):
            await auth.service.verify_mfa(mfa_token=token, code="not-a-code", meta=HOME)
    with pytest.raises(Locked):
        await auth.service.verify_mfa(mfa_token=token, code="not-a-code", meta=HOME)
    assert "auth.lockout" in auth.actions()


async def test_turning_mfa_off_needs_a_good_code() -> None:
    auth = Auth()
    actor, secret, _ = await enrolled(auth)
    with pytest.raises(RuleViolation):
        await auth.service.disable_totp(actor, code="12345x", meta=HOME)
    assert auth.details("auth.mfa_disable") == [{"step": "mfa_disable"}]
    await auth.service.disable_totp(actor, code=auth.code(secret, steps_ahead=1), meta=HOME)
    user = await auth.user(actor.user_id)
    assert (user.mfa_enabled, user.mfa_secret, user.mfa_last_timestep) == (False, None, None)
    assert user.id not in auth.db.tables.recovery_codes
    with pytest.raises(Conflict):
        await auth.service.disable_totp(actor, code=auth.code(secret), meta=HOME)


def session_changes(auth: Auth) -> list[dict[str, Any]]:
    """The ``SessionsChanged`` events committed so far (their payloads)."""
    return [
        event.payload
        for event in auth.db.tables.outbox.values()
        if event.event_type == "SessionsChanged"
    ]


async def test_turning_mfa_on_or_off_forgets_the_users_principals_through_the_outbox() -> None:
    auth = Auth()
    await auth.add_user()
    here, there = await auth.sign_in(), await auth.sign_in()
    actor = await auth.principal(here)
    await auth.principal(there)
    assert not actor.mfa_enabled
    enrolment = await auth.service.start_totp(actor, HOME)
    assert session_changes(auth) == []  # a pending enrolment changes no principal
    await auth.service.confirm_totp(actor, code=auth.code(enrolment.secret), meta=HOME)
    both = sorted([str(here.session_id), str(there.session_id)])
    (enabled,) = session_changes(auth)
    assert (enabled["reason"], sorted(enabled["session_ids"])) == ("mfa_enabled", both)
    # Forgotten after the commit (the unit of work's after_commit): read again, MFA on.
    assert auth.cache.get(here.session_id) is None
    assert auth.cache.get(there.session_id) is None
    actor = await auth.principal(here)
    assert actor.mfa_enabled

    auth.advance(timedelta(seconds=60))  # the next time step: a fresh code
    await auth.service.disable_totp(actor, code=auth.code(enrolment.secret), meta=HOME)
    disabled = session_changes(auth)[1]
    assert disabled["reason"] == "mfa_disabled"
    assert auth.cache.get(here.session_id) is None
    assert not (await auth.principal(here)).mfa_enabled
