"""Two-factor authentication (TOTP): enrolment (start, confirm with recovery codes),
turning it off, and spending a second factor (a TOTP code once per time step, or a
recovery code)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from vetchart.domain.audit import RequestMeta
from vetchart.domain.audit_actions import AuditAction
from vetchart.domain.errors import Conflict, RuleViolation
from vetchart.domain.policy import Action, Principal, require
from vetchart.domain.throttle import ThrottleKeys, ThrottleState, mfa_keys, register_success
from vetchart.domain.users import User
from vetchart.services.auth.base import token_digest
from vetchart.services.auth.lockout import Held, Lockout, Throttles, locked
from vetchart.services.invalidation import sessions_changed
from vetchart.services.ports.unit_of_work import UnitOfWork

INVALID_MFA = "The code is not valid."

RECOVERY_CODE_BYTES = 10

TOTP_CODE_LENGTH = 6


@dataclass(frozen=True)
class TotpEnrolment:
    secret: str
    otpauth_uri: str


class SecondFactor(Lockout):
    async def _lock_mfa_throttles(
        self, uow: UnitOfWork, keys: ThrottleKeys, now: datetime
    ) -> tuple[ThrottleState, ThrottleState]:
        """The (pair, account) rows of an MFA attempt, locked account first: every MFA
        path's lock order (then the user's row)."""
        account = await uow.throttles.lock(keys.account, now)
        pair = await uow.throttles.lock(keys.pair, now)
        return pair, account

    async def _stop_if_locked(
        self,
        uow: UnitOfWork,
        keys: ThrottleKeys,
        rows: tuple[ThrottleState, ThrottleState],
        now: datetime,
        refuse: Callable[[Held], None],
    ) -> None:
        """``Locked`` while a lock holds the attempt, once ``refuse`` has audited it (and
        the unit committed that row)."""
        pair, account = rows
        held = self._lock_in_force(Throttles(pair, account, await self._peek_known(uow, keys)), now)
        if held is not None:
            refuse(held)
            await uow.commit()
            raise locked(held, now)

    async def _try_second_factor(
        self,
        uow: UnitOfWork,
        keys: ThrottleKeys,
        rows: tuple[ThrottleState, ThrottleState],
        user: User,
        code: str,
        now: datetime,
        meta: RequestMeta,
        action: AuditAction,
        details: dict[str, object],
        wrong: Exception,
    ) -> str:
        """Spend a second factor (the method used). A wrong code counts as a failure of the
        MFA throttles (audited as ``action``), committed, and ``wrong`` is raised; a right
        one clears the pair's failures."""
        pair, account = rows
        method = await self._consume_second_factor(uow, user, code, now)
        if method is None:
            mfa_rules = self._config.lockout.mfa_account
            await self._count_failure(
                uow, keys, pair, account, mfa_rules, now, user, meta, action, details
            )
            await uow.commit()
            raise wrong
        await uow.throttles.save(register_success(pair, now), now)
        return method

    async def _consume_second_factor(
        self, uow: UnitOfWork, user: User, code: str, now: datetime
    ) -> str | None:
        """Spend a TOTP code (once per time step) or a recovery code; the method used."""
        code = code.strip().replace(" ", "")
        if user.mfa_secret is not None and len(code) == TOTP_CODE_LENGTH and code.isdigit():
            step = self._totp.matching_timestep(self._box.open(user.mfa_secret), code, now)
            if step is not None and (
                user.mfa_last_timestep is None or step > user.mfa_last_timestep
            ):
                await uow.users.save(replace(user, mfa_last_timestep=step, updated_at=now))
                return "totp"
            return None
        if code and await uow.recovery_codes.use(user.id, token_digest(code.lower()), now):
            return "recovery_code"
        return None


class Mfa(SecondFactor):
    async def start_totp(self, actor: Principal, meta: RequestMeta) -> TotpEnrolment:
        require(actor, Action.MFA_MANAGE)
        secret = self._totp.new_secret()
        async with self._uow() as uow:
            user = await uow.users.get(actor.user_id, for_update=True)
            assert user is not None
            if user.mfa_enabled:
                raise Conflict("Two-factor authentication is already on.", code="mfa-enabled")
            now = self._clock.now()
            await uow.users.save(
                replace(user, mfa_pending_secret=self._box.seal(secret), updated_at=now)
            )
            self._audit_actor(uow, meta, AuditAction.AUTH_MFA_ENROL_START, actor)
            await uow.commit()
        return TotpEnrolment(secret, self._totp.provisioning_uri(secret, user.email))

    async def confirm_totp(self, actor: Principal, *, code: str, meta: RequestMeta) -> list[str]:
        """A correct code turns MFA on and returns one-time recovery codes (shown once)."""
        require(actor, Action.MFA_MANAGE)
        async with self._uow() as uow:
            now = self._clock.now()
            user = await uow.users.get(actor.user_id, for_update=True)
            assert user is not None
            if user.mfa_enabled:
                raise Conflict("Two-factor authentication is already on.", code="mfa-enabled")
            if user.mfa_pending_secret is None:
                raise Conflict("Start the enrolment first.", code="mfa-not-started")
            secret = self._box.open(user.mfa_pending_secret)
            step = self._totp.matching_timestep(secret, code.strip(), now)
            if step is None:
                raise RuleViolation(INVALID_MFA, rule="mfa.code_invalid", field="code")
            codes = [
                secrets.token_hex(RECOVERY_CODE_BYTES // 2)
                + "-"
                + secrets.token_hex(RECOVERY_CODE_BYTES // 2)
                for _ in range(self._config.recovery_code_count)
            ]
            await uow.users.save(
                replace(
                    user,
                    mfa_enabled=True,
                    mfa_secret=user.mfa_pending_secret,
                    mfa_pending_secret=None,
                    mfa_last_timestep=step,
                    updated_at=now,
                )
            )
            await uow.recovery_codes.replace(user.id, [token_digest(c) for c in codes], now)
            sessions = await uow.sessions.list_active(user.id, now)
            self._audit_actor(uow, meta, AuditAction.AUTH_MFA_ENABLE, actor)
            sessions_changed(uow, user.id, [s.id for s in sessions], "mfa_enabled")
            await uow.commit()
        return codes

    async def disable_totp(self, actor: Principal, *, code: str, meta: RequestMeta) -> None:
        """A correct code turns MFA off. Wrong codes count towards the same lockout as the
        sign-in step, so a stolen access token cannot be used to guess a code."""
        require(actor, Action.MFA_MANAGE)
        keys = mfa_keys(actor.user_id, meta.client_address)
        async with self._uow() as uow:
            now = self._clock.now()
            rows = await self._lock_mfa_throttles(uow, keys, now)
            user = await uow.users.get(actor.user_id, for_update=True)
            assert user is not None
            if not user.mfa_enabled:
                raise Conflict("Two-factor authentication is not on.", code="mfa-not-enabled")
            action = AuditAction.AUTH_MFA_DISABLE
            await self._stop_if_locked(
                uow,
                keys,
                rows,
                now,
                lambda held: self._refuse_locked_change(uow, meta, action, actor, held),
            )
            wrong = RuleViolation(INVALID_MFA, rule="mfa.code_invalid", field="code")
            await self._try_second_factor(
                uow, keys, rows, user, code, now, meta, action, {"step": "mfa_disable"}, wrong
            )
            fresh = await uow.users.get(actor.user_id, for_update=True)
            assert fresh is not None
            await uow.users.save(
                replace(
                    fresh,
                    mfa_enabled=False,
                    mfa_secret=None,
                    mfa_pending_secret=None,
                    mfa_last_timestep=None,
                    updated_at=now,
                )
            )
            await uow.recovery_codes.clear(user.id)
            sessions = await uow.sessions.list_active(user.id, now)
            self._audit_actor(uow, meta, AuditAction.AUTH_MFA_DISABLE, actor)
            sessions_changed(uow, user.id, [s.id for s in sessions], "mfa_disabled")
            await uow.commit()
