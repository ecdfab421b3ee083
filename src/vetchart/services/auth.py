"""Authentication use cases: signup, login (with MFA), refresh, sessions, passwords, MFA.

Every public method is one or two units of work. Slow password hashing always runs
outside a transaction, so a burst of logins holds no database connections while hashing.
Every auth event leaves an audit entry in the same transaction as its effect.

When the hasher is overloaded it sheds with ``Unavailable`` (503) before checking
anything: such an attempt changes nothing, so it counts no failure towards a lockout and
leaves no audit row (the hasher logs and counts it).

Failed passwords (sign-in and password change) and failed MFA codes are throttled per
(account, client network) and per account (``domain.throttle``): a stranger's failures
lock their own address out, not the account's owner; only a ceiling far above what one
address can reach locks the account for every address but those it recently signed in
from.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from uuid import UUID

from vetchart.domain import passwords
from vetchart.domain.audit import AuditEntry, Outcome, RequestMeta
from vetchart.domain.errors import (
    Conflict,
    Locked,
    NotFound,
    RuleViolation,
    Unauthenticated,
    Unavailable,
)
from vetchart.domain.policy import Action, Principal, authorize
from vetchart.domain.sessions import SessionPolicy, SessionRecord
from vetchart.domain.throttle import (
    ACCOUNT,
    PAIR,
    LockoutPolicy,
    LockoutRules,
    ThrottleKeys,
    ThrottleState,
    lock_in_force,
    mfa_keys,
    password_keys,
    register_failure,
    register_success,
)
from vetchart.domain.users import Role, User, normalize_email
from vetchart.services.accounts import new_account
from vetchart.services.audit import record as record_audit
from vetchart.services.passwords import validate_new_password
from vetchart.services.ports import (
    Clock,
    IdGenerator,
    IssuedToken,
    PasswordHasher,
    PrincipalCache,
    RefreshTokenState,
    SecretBox,
    TokenService,
    Totp,
    UnitOfWork,
    UnitOfWorkFactory,
)

INVALID_CREDENTIALS = "Incorrect email or password."
INVALID_REFRESH = "The refresh token is not valid."
INVALID_MFA = "The code is not valid."
LOCKED = "Too many failed attempts; try again later."
REFRESH_TOKEN_BYTES = 32
RECOVERY_CODE_BYTES = 10
TOTP_CODE_LENGTH = 6


@dataclass(frozen=True)
class AuthConfig:
    lockout: LockoutPolicy
    sessions: SessionPolicy
    mfa_required_roles: frozenset[Role]
    recovery_code_count: int = 10


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    expires_in: int
    refresh_token: str
    session_id: UUID


@dataclass(frozen=True)
class MfaChallenge:
    mfa_token: str
    expires_in: int


@dataclass(frozen=True)
class TotpEnrolment:
    secret: str
    otpauth_uri: str


def token_digest(token: str) -> bytes:
    """Refresh tokens and recovery codes are random and long: SHA-256 is the right hash."""
    return hashlib.sha256(token.encode("utf-8")).digest()


@dataclass(frozen=True)
class _Throttles:
    """The throttle rows of one attempt (None: none written yet)."""

    pair: ThrottleState | None
    account: ThrottleState | None
    known: ThrottleState | None


class AuthService:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        hasher: PasswordHasher,
        tokens: TokenService,
        secret_box: SecretBox,
        totp: Totp,
        principal_cache: PrincipalCache,
        guessability: passwords.GuessabilityCheck,
        config: AuthConfig,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._hasher = hasher
        self._tokens = tokens
        self._box = secret_box
        self._totp = totp
        self._cache = principal_cache
        self._guessability = guessability
        self._config = config

    # ------------------------------------------------------------------ signup

    async def signup(self, *, email: str, password: str, full_name: str, meta: RequestMeta) -> User:
        """A new account, always a PET_OWNER; roles never come from the request."""
        user = await new_account(
            email=email,
            full_name=full_name,
            password=password,
            role=Role.PET_OWNER,
            practice_id=None,
            ids=self._ids,
            clock=self._clock,
            hasher=self._hasher,
            guessability=self._guessability,
        )
        async with self._uow() as uow:
            if await uow.users.get_by_email(user.email) is not None:
                raise Conflict("An account with this email already exists.", code="email-taken")
            await uow.users.add(user)
            self._audit(uow, meta, "user.signup", user, Outcome.SUCCESS, actor=user)
            await uow.commit()
        return user

    # ------------------------------------------------------------------ login

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
                "auth.login_failed",
                {"reason": "credentials", "known_account": user is not None},
            )
            raise Unauthenticated(INVALID_CREDENTIALS)

        async with self._uow() as uow:
            now = self._clock.now()
            # A pair with no row has no failures to clear: none is written for it.
            pair = await uow.throttles.peek(keys.pair)
            if pair is not None:
                pair = await uow.throttles.lock(keys.pair, now)
            current = _Throttles(
                pair, await uow.throttles.peek(keys.account), await self._peek_known(uow, keys)
            )
            held = self._lock_in_force(current, now)
            if held is not None:  # locked by a concurrent attempt meanwhile
                raise Locked(LOCKED, retry_after_seconds=held[1].retry_after_seconds(now))
            if pair is not None:
                await uow.throttles.save(register_success(pair, now), now)
            if new_hash is not None:
                user = replace(user, password_hash=new_hash, updated_at=now)
                await uow.users.save(user)
            if user.mfa_enabled:
                challenge = self._tokens.issue_mfa(user.id, now)
                self._audit(uow, meta, "auth.mfa_challenge", user, Outcome.SUCCESS, actor=user)
                await uow.commit()
                return MfaChallenge(challenge.token, challenge.expires_in)
            await self._mark_known(uow, keys, now)
            tokens = await self._open_session(uow, user, meta, now)
            self._audit(
                uow,
                meta,
                "auth.login",
                user,
                Outcome.SUCCESS,
                actor=user,
                details={"session_id": str(tokens.session_id), "rehashed": new_hash is not None},
            )
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
        async with self._uow() as uow:
            now = self._clock.now()
            # Throttle rows (account, then pair), then the user: every MFA path's lock order.
            account = await uow.throttles.lock(keys.account, now)
            pair = await uow.throttles.lock(keys.pair, now)
            user = await uow.users.get(claims.user_id, for_update=True)
            if user is None or not user.is_active or not user.mfa_enabled:
                raise Unauthenticated(INVALID_MFA)
            held = self._lock_in_force(
                _Throttles(pair, account, await self._peek_known(uow, keys)), now
            )
            if held is not None:
                self._audit(
                    uow,
                    meta,
                    "auth.login_failed",
                    user,
                    Outcome.DENIED,
                    actor=user,
                    details={"step": "mfa", "reason": "locked", "scope": held[0]},
                )
                await uow.commit()
                raise Locked(LOCKED, retry_after_seconds=held[1].retry_after_seconds(now))
            method = await self._consume_second_factor(uow, user, code, now)
            if method is None:
                await self._count_failure(
                    uow,
                    keys,
                    pair,
                    account,
                    self._config.lockout.mfa_account,
                    now,
                    user,
                    meta,
                    "auth.login_failed",
                    {"step": "mfa"},
                )
                await uow.commit()
                raise Unauthenticated(INVALID_MFA)
            await uow.throttles.save(register_success(pair, now), now)
            await self._mark_known(uow, keys, now)
            tokens = await self._open_session(uow, user, meta, now)
            self._audit(
                uow,
                meta,
                "auth.login",
                user,
                Outcome.SUCCESS,
                actor=user,
                details={"session_id": str(tokens.session_id), "mfa": method},
            )
            await uow.commit()
            return tokens

    # ------------------------------------------------------------------ refresh

    async def refresh(self, *, refresh_token: str, meta: RequestMeta) -> TokenPair:
        """Rotate: the presented token is spent; a spent one revokes its whole session."""
        digest = token_digest(refresh_token)
        async with self._uow() as uow:
            now = self._clock.now()
            spent = await uow.sessions.spend_refresh_token(digest, now)
            if spent.state is RefreshTokenState.UNKNOWN or spent.session_id is None:
                raise Unauthenticated(INVALID_REFRESH)
            session = await uow.sessions.get(spent.session_id, for_update=True)
            assert session is not None
            user = await uow.users.get(session.user_id)
            assert user is not None
            if spent.state is RefreshTokenState.ALREADY_SPENT:
                revoked = await uow.sessions.revoke(session.id, now, "refresh_token_reuse")
                self._audit(
                    uow,
                    meta,
                    "auth.refresh_reuse",
                    user,
                    Outcome.DENIED,
                    actor=user,
                    details={"session_id": str(session.id), "revoked": revoked},
                )
                await uow.commit()
                self._cache.invalidate([session.id])
                raise Unauthenticated(INVALID_REFRESH)
            if not session.is_usable(now) or not user.is_active:
                self._audit(
                    uow,
                    meta,
                    "auth.refresh",
                    user,
                    Outcome.DENIED,
                    actor=user,
                    details={"session_id": str(session.id), "reason": "session_ended"},
                )
                await uow.commit()
                raise Unauthenticated(INVALID_REFRESH)
            refresh = secrets.token_urlsafe(REFRESH_TOKEN_BYTES)
            await uow.sessions.add_refresh_token(
                self._ids.new_id(), session.id, token_digest(refresh), now
            )
            await uow.sessions.touch(session.id, now)
            access = self._tokens.issue_access(user, session.id, now)
            self._audit(
                uow,
                meta,
                "auth.refresh",
                user,
                Outcome.SUCCESS,
                actor=user,
                details={"session_id": str(session.id)},
            )
            await uow.commit()
        return TokenPair(access.token, access.expires_in, refresh, session.id)

    # ------------------------------------------------------------------ authentication

    async def authenticate(self, access_token: str) -> Principal:
        """A verified access token whose session is still live, and its active user."""
        now = self._clock.now()
        claims = self._tokens.verify_access(access_token, now)
        cached = self._cache.get(claims.session_id)
        if cached is not None and cached.user_id == claims.user_id:
            return cached
        async with self._uow() as uow:
            found = await uow.sessions.principal(claims.session_id, claims.user_id)
        if found is None or not found.session.is_usable(now) or not found.user.is_active:
            raise Unauthenticated("The session has ended; sign in again.")
        user = found.user
        principal = Principal(
            user_id=user.id,
            role=user.role,
            practice_id=user.practice_id,
            session_id=found.session.id,
            mfa_enabled=user.mfa_enabled,
            full_name=user.full_name,
        )
        self._cache.put(principal)
        return principal

    # ------------------------------------------------------------------ sessions

    async def logout(self, actor: Principal, meta: RequestMeta) -> None:
        async with self._uow() as uow:
            now = self._clock.now()
            await uow.sessions.revoke(actor.session_id, now, "logout")
            self._audit_actor(uow, meta, "auth.logout", actor, "session", str(actor.session_id))
            await uow.commit()
        self._cache.invalidate([actor.session_id])

    async def logout_all(self, actor: Principal, meta: RequestMeta) -> None:
        async with self._uow() as uow:
            now = self._clock.now()
            revoked = await uow.sessions.revoke_all(actor.user_id, now, "logout_all")
            self._audit_actor(
                uow,
                meta,
                "auth.logout",
                actor,
                "user",
                str(actor.user_id),
                details={"all_sessions": True, "revoked": len(revoked)},
            )
            await uow.commit()
        self._cache.invalidate([*revoked, actor.session_id])

    async def list_sessions(self, actor: Principal) -> list[SessionRecord]:
        authorize(actor, Action.OWN_SESSIONS_MANAGE)
        async with self._uow() as uow:
            return await uow.sessions.list_active(actor.user_id, self._clock.now())

    async def revoke_session(self, actor: Principal, session_id: UUID, meta: RequestMeta) -> None:
        authorize(actor, Action.OWN_SESSIONS_MANAGE)
        async with self._uow() as uow:
            now = self._clock.now()
            session = await uow.sessions.get(session_id, for_update=True)
            if session is None or session.user_id != actor.user_id:
                raise NotFound("Session not found.")
            await uow.sessions.revoke(session_id, now, "revoked_by_user")
            self._audit_actor(uow, meta, "auth.session_revoke", actor, "session", str(session_id))
            await uow.commit()
        self._cache.invalidate([session_id])

    # ------------------------------------------------------------------ password

    async def change_password(
        self, actor: Principal, *, current_password: str, new_password: str, meta: RequestMeta
    ) -> None:
        """Needs the current password; revokes every other session of the user.

        A wrong current password counts exactly as a failed sign-in (the same throttle
        keys), so a stolen access token is no way around the sign-in throttles."""
        async with self._uow() as uow:
            user = await uow.users.get(actor.user_id)
            if user is None:
                raise Unauthenticated("The session has ended; sign in again.")
            keys = password_keys(user.email, user.id, meta.client_address)
            throttles = await self._peek_throttles(uow, keys)
        now = self._clock.now()
        held = self._lock_in_force(throttles, now)
        if held is not None:
            async with self._uow() as uow:
                self._audit_actor(
                    uow,
                    meta,
                    "auth.password_change",
                    actor,
                    "user",
                    str(user.id),
                    outcome=Outcome.DENIED,
                    details={"reason": "locked", "scope": held[0]},
                )
                await uow.commit()
            raise Locked(LOCKED, retry_after_seconds=held[1].retry_after_seconds(now))
        if not await self._hasher.verify(
            user.password_hash, passwords.normalize_password(current_password)
        ):
            await self._register_failure(
                keys,
                self._config.lockout.account,
                user,
                meta,
                "auth.password_change",
                {"reason": "current_incorrect"},
            )
            raise RuleViolation(
                "The current password is not correct.",
                rule="current_password.incorrect",
                field="current_password",
            )
        new_value = await validate_new_password(
            new_password, email=user.email, guessability=self._guessability, field="new_password"
        )
        if new_value == passwords.normalize_password(current_password):
            raise RuleViolation(
                "The new password must differ from the current one.",
                rule="password.unchanged",
                field="new_password",
            )
        new_hash = await self._hasher.hash(new_value)
        async with self._uow() as uow:
            now = self._clock.now()
            # The pair row before the user row: the lock order of a sign-in.
            pair = await uow.throttles.peek(keys.pair)
            if pair is not None:
                pair = await uow.throttles.lock(keys.pair, now)
            current = _Throttles(
                pair, await uow.throttles.peek(keys.account), await self._peek_known(uow, keys)
            )
            held = self._lock_in_force(current, now)
            if held is not None:  # locked by a concurrent attempt meanwhile
                raise Locked(LOCKED, retry_after_seconds=held[1].retry_after_seconds(now))
            if pair is not None:
                await uow.throttles.save(register_success(pair, now), now)
            locked_user = await uow.users.get(actor.user_id, for_update=True)
            assert locked_user is not None
            await uow.users.save(
                replace(
                    locked_user, password_hash=new_hash, password_changed_at=now, updated_at=now
                )
            )
            revoked = await uow.sessions.revoke_all(
                actor.user_id, now, "password_changed", keep=actor.session_id
            )
            self._audit_actor(
                uow,
                meta,
                "auth.password_change",
                actor,
                "user",
                str(user.id),
                details={"revoked_sessions": len(revoked)},
            )
            await uow.commit()
        self._cache.invalidate(revoked)

    # ------------------------------------------------------------------ MFA enrolment

    async def start_totp(self, actor: Principal, meta: RequestMeta) -> TotpEnrolment:
        authorize(actor, Action.MFA_MANAGE)
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
            self._audit_actor(uow, meta, "auth.mfa_enrol_start", actor, "user", str(user.id))
            await uow.commit()
        return TotpEnrolment(secret, self._totp.provisioning_uri(secret, user.email))

    async def confirm_totp(self, actor: Principal, *, code: str, meta: RequestMeta) -> list[str]:
        """A correct code turns MFA on and returns one-time recovery codes (shown once)."""
        authorize(actor, Action.MFA_MANAGE)
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
            self._audit_actor(uow, meta, "auth.mfa_enable", actor, "user", str(user.id))
            await uow.commit()
        self._cache.invalidate([s.id for s in sessions])
        return codes

    async def disable_totp(self, actor: Principal, *, code: str, meta: RequestMeta) -> None:
        """A correct code turns MFA off. Wrong codes count towards the same lockout as the
        sign-in step, so a stolen access token cannot be used to guess a code."""
        authorize(actor, Action.MFA_MANAGE)
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
                _Throttles(pair, account, await self._peek_known(uow, keys)), now
            )
            if held is not None:
                self._audit_actor(
                    uow,
                    meta,
                    "auth.mfa_disable",
                    actor,
                    "user",
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
                    "auth.mfa_disable",
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
            self._audit_actor(uow, meta, "auth.mfa_disable", actor, "user", str(user.id))
            await uow.commit()
        self._cache.invalidate([s.id for s in sessions])

    # ------------------------------------------------------------------ helpers

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

    async def _open_session(
        self, uow: UnitOfWork, user: User, meta: RequestMeta, now: datetime
    ) -> TokenPair:
        policy = self._config.sessions
        idle = (
            policy.idle_timeout_staff
            if user.role is not Role.PET_OWNER
            else policy.idle_timeout_owner
        )
        session = SessionRecord(
            id=self._ids.new_id(),
            user_id=user.id,
            created_at=now,
            last_used_at=now,
            expires_at=now + policy.absolute_lifetime,
            idle_timeout_seconds=int(idle.total_seconds()),
            client_address=meta.client_address,
            user_agent=(meta.user_agent or "")[:500] or None,
        )
        await uow.sessions.add(session)
        refresh = secrets.token_urlsafe(REFRESH_TOKEN_BYTES)
        await uow.sessions.add_refresh_token(
            self._ids.new_id(), session.id, token_digest(refresh), now
        )
        access: IssuedToken = self._tokens.issue_access(user, session.id, now)
        return TokenPair(access.token, access.expires_in, refresh, session.id)

    async def _peek_known(self, uow: UnitOfWork, keys: ThrottleKeys) -> ThrottleState | None:
        return await uow.throttles.peek(keys.known) if keys.known is not None else None

    async def _peek_throttles(self, uow: UnitOfWork, keys: ThrottleKeys) -> _Throttles:
        return _Throttles(
            await uow.throttles.peek(keys.pair),
            await uow.throttles.peek(keys.account),
            await self._peek_known(uow, keys),
        )

    def _lock_in_force(
        self, throttles: _Throttles, now: datetime
    ) -> tuple[str, ThrottleState] | None:
        return lock_in_force(
            throttles.pair,
            throttles.account,
            throttles.known,
            now,
            self._config.lockout.known_address_for,
        )

    async def _mark_known(self, uow: UnitOfWork, keys: ThrottleKeys, now: datetime) -> None:
        """A full sign-in from this network: the account-wide lock lets it through for a
        while (its pair throttle still applies)."""
        if keys.known is None or self._config.lockout.known_address_for <= timedelta(0):
            return
        marker = await uow.throttles.lock(keys.known, now)
        await uow.throttles.save(register_success(marker, now), now)

    async def _register_failure(
        self,
        keys: ThrottleKeys,
        account_rules: LockoutRules,
        user: User | None,
        meta: RequestMeta,
        action: str,
        details: dict[str, object],
    ) -> None:
        """A failed password, counted in its own transaction (the hash ran outside one)."""
        async with self._uow() as uow:
            now = self._clock.now()
            # The account row, then the pair row: the lock order of every failure.
            account = await uow.throttles.lock(keys.account, now)
            pair = await uow.throttles.lock(keys.pair, now)
            held = self._lock_in_force(
                _Throttles(pair, account, await self._peek_known(uow, keys)), now
            )
            if held is not None:  # locked by a concurrent attempt meanwhile
                await uow.commit()
                raise Locked(LOCKED, retry_after_seconds=held[1].retry_after_seconds(now))
            await self._count_failure(
                uow, keys, pair, account, account_rules, now, user, meta, action, details
            )
            await uow.commit()

    async def _count_failure(
        self,
        uow: UnitOfWork,
        keys: ThrottleKeys,
        pair: ThrottleState,
        account: ThrottleState,
        account_rules: LockoutRules,
        now: datetime,
        user: User | None,
        meta: RequestMeta,
        action: str,
        details: dict[str, object],
    ) -> None:
        """One more failure on a pair and on its account: saved, audited, and a lockout row
        for each of the two it locks (the account's only while it is not locked already:
        an address it lets through adds failures, not locks)."""
        pair_after = register_failure(pair, now, self._config.lockout.pair)
        account_after = register_failure(account, now, account_rules)
        await uow.throttles.save(pair_after, now)
        if account_after != account:
            await uow.throttles.save(account_after, now)
        self._audit(uow, meta, action, user, Outcome.DENIED, actor=user, details=details)
        if pair_after.is_locked(now) and not pair.is_locked(now):
            self._audit(
                uow,
                meta,
                "auth.lockout",
                user,
                Outcome.DENIED,
                actor=user,
                details={
                    **details,
                    "scope": PAIR,
                    "network": keys.network,
                    "lock_seconds": pair_after.retry_after_seconds(now),
                    "level": pair_after.lockout_level,
                },
            )
        if account_after.is_locked(now) and not account.is_locked(now):
            self._audit(
                uow,
                meta,
                "auth.lockout",
                user,
                Outcome.DENIED,
                actor=user,
                details={
                    **details,
                    "scope": ACCOUNT,
                    "ceiling": account_rules.threshold,
                    "lock_seconds": account_after.retry_after_seconds(now),
                    "level": account_after.lockout_level,
                },
            )

    async def _record_locked_attempt(
        self,
        user: User | None,
        meta: RequestMeta,
        held: tuple[str, ThrottleState],
        now: datetime,
    ) -> None:
        scope, state = held
        async with self._uow() as uow:
            self._audit(
                uow,
                meta,
                "auth.login_failed",
                user,
                Outcome.DENIED,
                actor=user,
                details={"reason": "locked", "scope": scope},
            )
            await uow.commit()
        raise Locked(LOCKED, retry_after_seconds=state.retry_after_seconds(now))

    @staticmethod
    def _audit(
        uow: UnitOfWork,
        meta: RequestMeta,
        action: str,
        user: User | None,
        outcome: Outcome,
        *,
        actor: User | None,
        details: dict[str, object] | None = None,
    ) -> None:
        uow.audit.record(
            AuditEntry(
                action=action,
                resource_type="user",
                resource_id=str(user.id) if user is not None else None,
                outcome=outcome,
                actor_id=actor.id if actor is not None else None,
                actor_role=actor.role.value if actor is not None else None,
                practice_id=user.practice_id if user is not None else None,
                details=dict(details or {}),
            ),
            meta,
        )

    @staticmethod
    def _audit_actor(
        uow: UnitOfWork,
        meta: RequestMeta,
        action: str,
        actor: Principal,
        resource_type: str,
        resource_id: str,
        *,
        outcome: Outcome = Outcome.SUCCESS,
        details: dict[str, object] | None = None,
    ) -> None:
        record_audit(
            uow,
            meta,
            actor,
            action,
            resource_type,
            resource_id,
            actor.practice_id,
            details,
            outcome=outcome,
        )
