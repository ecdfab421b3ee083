"""Sign-in throttling as the use cases apply it: failed passwords (sign-in and password
change) and failed MFA codes are throttled per (account, client network) and per account
(``domain.throttle``): a stranger's failures lock their own address out, not the
account's owner; only a ceiling far above what one address can reach locks the account
for every address but those it recently signed in from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from vetchart.domain.audit import Outcome, RequestMeta
from vetchart.domain.audit_actions import AuditAction
from vetchart.domain.errors import (
    Locked,
)
from vetchart.domain.policy import Principal
from vetchart.domain.throttle import (
    ACCOUNT,
    PAIR,
    LockoutRules,
    ThrottleKeys,
    ThrottleState,
    lock_in_force,
    register_failure,
    register_success,
)
from vetchart.domain.users import User
from vetchart.services.auth.base import AuthBase
from vetchart.services.ports.unit_of_work import UnitOfWork

LOCKED = "Too many failed attempts; try again later."

Held = tuple[str, ThrottleState]
"""The lock that refuses an attempt: its scope (``PAIR`` or ``ACCOUNT``) and its row."""


def locked(held: Held, now: datetime) -> Locked:
    """The refusal of an attempt a lock holds (423, with when to try again)."""
    return Locked(LOCKED, retry_after_seconds=held[1].retry_after_seconds(now))


@dataclass(frozen=True)
class Throttles:
    """The throttle rows of one attempt (None: none written yet)."""

    pair: ThrottleState | None
    account: ThrottleState | None
    known: ThrottleState | None


class Lockout(AuthBase):
    """Reading, checking and counting the throttle rows of an attempt."""

    async def _peek_known(self, uow: UnitOfWork, keys: ThrottleKeys) -> ThrottleState | None:
        return await uow.throttles.peek(keys.known) if keys.known is not None else None

    async def _peek_throttles(self, uow: UnitOfWork, keys: ThrottleKeys) -> Throttles:
        return Throttles(
            await uow.throttles.peek(keys.pair),
            await uow.throttles.peek(keys.account),
            await self._peek_known(uow, keys),
        )

    def _lock_in_force(self, throttles: Throttles, now: datetime) -> Held | None:
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
        action: AuditAction,
        details: dict[str, object],
    ) -> None:
        """A failed password, counted in its own transaction (the hash ran outside one)."""
        async with self._uow() as uow:
            now = self._clock.now()
            # The account row, then the pair row: the lock order of every failure.
            account = await uow.throttles.lock(keys.account, now)
            pair = await uow.throttles.lock(keys.pair, now)
            held = self._lock_in_force(
                Throttles(pair, account, await self._peek_known(uow, keys)), now
            )
            if held is not None:  # locked by a concurrent attempt meanwhile
                await uow.commit()
                raise locked(held, now)
            await self._count_failure(
                uow, keys, pair, account, account_rules, now, user, meta, action, details
            )
            await uow.commit()

    async def _password_passed(self, uow: UnitOfWork, keys: ThrottleKeys, now: datetime) -> None:
        """A correct password clears its pair's failures, in the unit that acts on it;
        ``Locked`` when a concurrent attempt locked it meanwhile. The pair row is locked
        before the user row: the lock order of a sign-in."""
        # A pair with no row has no failures to clear: none is written for it.
        pair = await uow.throttles.peek(keys.pair)
        if pair is not None:
            pair = await uow.throttles.lock(keys.pair, now)
        current = Throttles(
            pair, await uow.throttles.peek(keys.account), await self._peek_known(uow, keys)
        )
        held = self._lock_in_force(current, now)
        if held is not None:  # locked by a concurrent attempt meanwhile
            raise locked(held, now)
        if pair is not None:
            await uow.throttles.save(register_success(pair, now), now)

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
        action: AuditAction,
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
        self._audit(uow, meta, action, user, Outcome.DENIED, details)
        for before, after, scope in (
            (pair, pair_after, {"scope": PAIR, "network": keys.network}),
            (account, account_after, {"scope": ACCOUNT, "ceiling": account_rules.threshold}),
        ):
            if after.is_locked(now) and not before.is_locked(now):
                lock = {
                    "lock_seconds": after.retry_after_seconds(now),
                    "level": after.lockout_level,
                }
                self._audit(
                    uow,
                    meta,
                    AuditAction.AUTH_LOCKOUT,
                    user,
                    Outcome.DENIED,
                    {**details, **scope, **lock},
                )

    async def _record_locked_attempt(
        self, user: User | None, meta: RequestMeta, held: Held, now: datetime
    ) -> None:
        async with self._uow() as uow:
            self._refuse_locked_sign_in(uow, meta, user, held, {})
            await uow.commit()
        raise locked(held, now)

    def _refuse_locked_change(
        self, uow: UnitOfWork, meta: RequestMeta, action: AuditAction, actor: Principal, held: Held
    ) -> None:
        """The audit row of a change to one's own account refused by a lock."""
        refused: dict[str, object] = {"reason": "locked", "scope": held[0]}
        self._audit_actor(uow, meta, action, actor, outcome=Outcome.DENIED, details=refused)

    def _refuse_locked_sign_in(
        self,
        uow: UnitOfWork,
        meta: RequestMeta,
        user: User | None,
        held: Held,
        details: dict[str, object],
    ) -> None:
        """The audit row of a sign-in step refused by a lock."""
        refused: dict[str, object] = {**details, "reason": "locked", "scope": held[0]}
        self._audit(uow, meta, AuditAction.AUTH_LOGIN_FAILED, user, Outcome.DENIED, refused)
