"""Signing up and signing in: the password step (throttled; unknown accounts cost the same
time and get the same answer) and, with MFA on, the second step.

The password hash is verified outside any unit of work, so a burst of logins holds no
database connections while hashing. When the hasher is overloaded it sheds with
``Unavailable`` (503) before checking anything: such an attempt changes nothing, so it
counts no failure towards a lockout and leaves no audit row."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from vetchart.domain import passwords
from vetchart.domain.audit import Outcome, RequestMeta
from vetchart.domain.audit_actions import AuditAction
from vetchart.domain.errors import RuleViolation, Unauthenticated, Unavailable
from vetchart.domain.throttle import ThrottleKeys, mfa_keys, password_keys
from vetchart.domain.users import NewAccount, Role, User, normalize_email
from vetchart.services.accounts import add_account
from vetchart.services.auth.mfa import INVALID_MFA, SecondFactor
from vetchart.services.auth.sessions import Sessions, TokenPair
from vetchart.services.ports.unit_of_work import UnitOfWork

INVALID_CREDENTIALS = "Incorrect email or password."


@dataclass(frozen=True)
class MfaChallenge:
    mfa_token: str
    expires_in: int


class SignIn(Sessions, SecondFactor):
    async def signup(self, account: NewAccount, meta: RequestMeta) -> User:
        """A new account, always a PET_OWNER; roles never come from the request."""
        user = await self._accounts.new(account, role=Role.PET_OWNER)
        async with self._uow() as uow:
            await add_account(uow, user)
            self._audit(uow, meta, AuditAction.USER_SIGNUP, user, Outcome.SUCCESS)
            await uow.commit()
        return user

    async def login(
        self, *, email: str, password: str, meta: RequestMeta
    ) -> TokenPair | MfaChallenge:
        """Password step. Unknown accounts cost the same time and get the same answer."""
        try:
            email = normalize_email(email)
        except RuleViolation:
            email = email.strip().lower()
        async with self._uow() as uow:
            user = await uow.users.get_by_email(email)
            keys = password_keys(email, user.id if user else None, meta.client_address)
            throttles = await self._peek_throttles(uow, keys)
        now = self._clock.now()
        held = self._lock_in_force(throttles, now)
        if held is not None:
            await self._hasher.verify_dummy(password)
            await self._record_locked_attempt(user, meta, held, now)
        ok = False
        new_hash: str | None = None
        if user is None:
            await self._hasher.verify_dummy(password)
        else:
            ok = await self._hasher.verify(
                user.password_hash, passwords.normalize_password(password)
            )
            if ok and self._hasher.needs_rehash(user.password_hash):
                new_hash = await self._rehash(password)
        if not ok or user is None or not user.is_active:
            await self._register_failure(
                keys,
                self._config.lockout.account,
                user,
                meta,
                AuditAction.AUTH_LOGIN_FAILED,
                {"reason": "credentials", "known_account": user is not None},
            )
            raise Unauthenticated(INVALID_CREDENTIALS)

        async with self._uow() as uow:
            now = self._clock.now()
            await self._password_passed(uow, keys, now)
            if new_hash is not None:
                user = replace(user, password_hash=new_hash, updated_at=now)
                await uow.users.save(user)
            if user.mfa_enabled:
                challenge = self._tokens.issue_mfa(user.id, now)
                self._audit(uow, meta, AuditAction.AUTH_MFA_CHALLENGE, user, Outcome.SUCCESS)
                await uow.commit()
                return MfaChallenge(challenge.token, challenge.expires_in)
            return await self._signed_in(uow, keys, user, meta, now, rehashed=new_hash is not None)

    async def _signed_in(
        self,
        uow: UnitOfWork,
        keys: ThrottleKeys,
        user: User,
        meta: RequestMeta,
        now: datetime,
        **details: object,
    ) -> TokenPair:
        """The end of a sign-in (by password, or its MFA step): the network is known, a
        session opens, the audit row names it (and ``details``), the unit commits."""
        await self._mark_known(uow, keys, now)
        tokens = await self._open_session(uow, user, meta, now)
        audited = {"session_id": str(tokens.session_id), **details}
        self._audit(uow, meta, AuditAction.AUTH_LOGIN, user, Outcome.SUCCESS, audited)
        await uow.commit()
        return tokens

    async def _rehash(self, password: str) -> str | None:
        """The password under the current parameters, saved with the sign-in; None when the
        hasher is too busy (the sign-in goes ahead; the next one re-hashes)."""
        try:
            return await self._hasher.hash(passwords.normalize_password(password))
        except Unavailable:
            return None

    async def verify_mfa(self, *, mfa_token: str, code: str, meta: RequestMeta) -> TokenPair:
        """Second step of an MFA login: a TOTP code or a recovery code."""
        claims = self._tokens.verify_mfa(mfa_token, self._clock.now())
        keys = mfa_keys(claims.user_id, meta.client_address)
        wrong = Unauthenticated(INVALID_MFA)
        async with self._uow() as uow:
            now = self._clock.now()
            rows = await self._lock_mfa_throttles(uow, keys, now)
            user = await uow.users.get(claims.user_id, for_update=True)
            if user is None or not user.is_active or not user.mfa_enabled:
                raise Unauthenticated(INVALID_MFA)
            step: dict[str, object] = {"step": "mfa"}
            await self._stop_if_locked(
                uow,
                keys,
                rows,
                now,
                lambda held: self._refuse_locked_sign_in(uow, meta, user, held, step),
            )
            method = await self._try_second_factor(
                uow, keys, rows, user, code, now, meta, AuditAction.AUTH_LOGIN_FAILED, step, wrong
            )
            return await self._signed_in(uow, keys, user, meta, now, mfa=method)
