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

    def _lock_in_force(
        self, throttles: Throttles, now: datetime
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
        self._audit(uow, meta, action, user, Outcome.DENIED, actor=user, details=details)
        if pair_after.is_locked(now) and not pair.is_locked(now):
            self._audit(
                uow,
                meta,
                AuditAction.AUTH_LOCKOUT,
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
                AuditAction.AUTH_LOCKOUT,
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
                AuditAction.AUTH_LOGIN_FAILED,
                user,
                Outcome.DENIED,
                actor=user,
                details={"reason": "locked", "scope": scope},
            )
            await uow.commit()
        raise Locked(LOCKED, retry_after_seconds=state.retry_after_seconds(now))
