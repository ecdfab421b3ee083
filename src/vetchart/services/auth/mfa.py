"""Two-factor authentication (TOTP): enrolment (start, confirm with recovery codes),
turning it off, and spending a second factor (a TOTP code once per time step, or a
recovery code)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import datetime

from vetchart.domain.audit import Outcome, RequestMeta
from vetchart.domain.audit_actions import AuditAction
from vetchart.domain.errors import (
    Conflict,
    Locked,
    RuleViolation,
)
from vetchart.domain.policy import Action, Principal, require
from vetchart.domain.throttle import (
    mfa_keys,
    register_success,
)
from vetchart.domain.users import User
from vetchart.services.auth.base import AuthBase, token_digest
from vetchart.services.auth.lockout import LOCKED, Lockout, Throttles
from vetchart.services.ports.unit_of_work import UnitOfWork

INVALID_MFA = "The code is not valid."

RECOVERY_CODE_BYTES = 10

TOTP_CODE_LENGTH = 6


@dataclass(frozen=True)
class TotpEnrolment:
    secret: str
    otpauth_uri: str


class SecondFactor(AuthBase):
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


class Mfa(Lockout, SecondFactor):
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
            self._audit_actor(uow, meta, AuditAction.AUTH_MFA_ENROL_START, actor, str(user.id))
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
            self._audit_actor(uow, meta, AuditAction.AUTH_MFA_ENABLE, actor, str(user.id))
            await uow.commit()
        self._cache.invalidate([s.id for s in sessions])
        return codes

    async def disable_totp(self, actor: Principal, *, code: str, meta: RequestMeta) -> None:
        """A correct code turns MFA off. Wrong codes count towards the same lockout as the
        sign-in step, so a stolen access token cannot be used to guess a code."""
        require(actor, Action.MFA_MANAGE)
        keys = mfa_keys(actor.user_id, meta.client_address)
        async with self._uow() as uow:
            now = self._clock.now()
            # Throttle rows first, then the user: the lock order of verify_mfa.
            account = await uow.throttles.lock(keys.account, now)
            pair = await uow.throttles.lock(keys.pair, now)
            user = await uow.users.get(actor.user_id, for_update=True)
            assert user is not None
            if not user.mfa_enabled:
                raise Conflict("Two-factor authentication is not on.", code="mfa-not-enabled")
            held = self._lock_in_force(
                Throttles(pair, account, await self._peek_known(uow, keys)), now
            )
            if held is not None:
                self._audit_actor(
                    uow,
                    meta,
                    AuditAction.AUTH_MFA_DISABLE,
                    actor,
                    str(user.id),
                    outcome=Outcome.DENIED,
                    details={"reason": "locked", "scope": held[0]},
                )
                await uow.commit()
                raise Locked(LOCKED, retry_after_seconds=held[1].retry_after_seconds(now))
            if await self._consume_second_factor(uow, user, code, now) is None:
                await self._count_failure(
                    uow,
                    keys,
                    pair,
                    account,
                    self._config.lockout.mfa_account,
                    now,
                    user,
                    meta,
                    AuditAction.AUTH_MFA_DISABLE,
                    {"step": "mfa_disable"},
                )
                await uow.commit()
                raise RuleViolation(INVALID_MFA, rule="mfa.code_invalid", field="code")
            await uow.throttles.save(register_success(pair, now), now)
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
            self._audit_actor(uow, meta, AuditAction.AUTH_MFA_DISABLE, actor, str(user.id))
            await uow.commit()
        self._cache.invalidate([s.id for s in sessions])
