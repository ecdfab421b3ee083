"""User administration and own-profile use cases."""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID

from vetchart.domain import passwords
from vetchart.domain.audit import RequestMeta
from vetchart.domain.audit_actions import AuditAction
from vetchart.domain.errors import Conflict, NotFound
from vetchart.domain.policy import (
    Action,
    Principal,
    RoleChange,
    UserAccount,
    require,
    user_list_scope,
)
from vetchart.domain.throttle import lockout_keys
from vetchart.domain.users import NewAccount, ProfileChanges, Role, User, UserChanges
from vetchart.services.accounts import AccountMaker, add_account
from vetchart.services.audit import UNATTENDED
from vetchart.services.audit import record as record_audit
from vetchart.services.base import found
from vetchart.services.invalidation import sessions_changed
from vetchart.services.ports.identity import (
    PasswordHasher,
    UserFilters,
    UserQueries,
)
from vetchart.services.ports.paging import Page, PageRequest
from vetchart.services.ports.system import Clock, IdGenerator
from vetchart.services.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory


class UserService:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        queries: UserQueries,
        clock: Clock,
        ids: IdGenerator,
        hasher: PasswordHasher,
        guessability: passwords.GuessabilityCheck,
    ) -> None:
        self._uow = uow
        self._queries = queries
        self._clock = clock
        self._accounts = AccountMaker(
            ids=ids, clock=clock, hasher=hasher, guessability=guessability
        )

    async def me(self, actor: Principal) -> User:
        require(actor, Action.OWN_PROFILE_READ)
        async with self._uow() as uow:
            user = await uow.users.get(actor.user_id)
        if user is None:
            raise NotFound("User not found.")
        return user

    async def update_me(self, actor: Principal, changes: ProfileChanges, meta: RequestMeta) -> User:
        require(actor, Action.OWN_PROFILE_UPDATE)
        async with self._uow() as uow:
            user = await uow.users.get(actor.user_id, for_update=True)
            if user is None:
                raise NotFound("User not found.")
            if changes.full_name is None or changes.full_name == user.full_name:
                return user
            updated = replace(user, full_name=changes.full_name, updated_at=self._clock.now())
            await uow.users.save(updated)
            _audit(
                uow,
                meta,
                actor,
                AuditAction.OWN_USER_UPDATE,
                updated,
                details={"fields": ["full_name"]},
            )
            sessions_changed(uow, actor.user_id, [actor.session_id], "profile_updated")
            await uow.commit()
        return updated

    async def list_users(
        self, actor: Principal, filters: UserFilters, page: PageRequest
    ) -> Page[User]:
        require(actor, Action.USER_LIST)
        scope = user_list_scope(actor)
        return await self._queries.users_page(scope, filters, page)

    async def get_user(self, actor: Principal, user_id: UUID) -> User:
        async with self._uow() as uow:
            return await _administered(uow, actor, user_id, Action.USER_READ)

    async def update_user(
        self, actor: Principal, user_id: UUID, changes: UserChanges, meta: RequestMeta
    ) -> User:
        """Role (staff roles, within the admin's practice) and active flag.

        Deactivation revokes every session of the user at once.
        """
        async with self._uow() as uow:
            user = await _administered(uow, actor, user_id, Action.USER_UPDATE, for_update=True)
            if user.id == actor.user_id:
                raise Conflict(
                    "You cannot change your own role or deactivate yourself.", code="self-change"
                )
            now = self._clock.now()
            updated = user
            fields: list[str] = []
            if changes.role is not None and changes.role is not user.role:
                require(actor, Action.USER_UPDATE, RoleChange(user.role, changes.role))
                updated = replace(updated, role=changes.role)
                fields.append("role")
            if changes.is_active is not None and changes.is_active != user.is_active:
                updated = replace(updated, is_active=changes.is_active)
                fields.append("is_active")
            if not fields:
                return user
            updated = replace(updated, updated_at=now)
            await uow.users.save(updated)
            revoked: list[UUID] = []
            if "is_active" in fields and not updated.is_active:
                revoked = await uow.sessions.revoke_all(user.id, now, "user_deactivated")
            sessions = await uow.sessions.list_active(user.id, now)
            _audit(
                uow,
                meta,
                actor,
                AuditAction.USER_UPDATE,
                updated,
                details={
                    "fields": fields,
                    "revoked_sessions": len(revoked),
                    **({"role": updated.role.value} if "role" in fields else {}),
                    **({"is_active": updated.is_active} if "is_active" in fields else {}),
                },
            )
            sessions_changed(uow, user.id, [*revoked, *(s.id for s in sessions)], "user_updated")
            await uow.commit()
        return updated

    async def unlock(self, actor: Principal, user_id: UUID, meta: RequestMeta) -> None:
        async with self._uow() as uow:
            user = await _administered(uow, actor, user_id, Action.USER_UNLOCK)
            # Every lockout of the account: each address's, the account-wide ceilings.
            exact, prefixes = lockout_keys(user.email, user.id)
            cleared = await uow.throttles.clear_many(exact, prefixes)
            _audit(
                uow, meta, actor, AuditAction.USER_UNLOCK, user, details={"cleared_keys": cleared}
            )
            await uow.commit()

    async def create_admin(self, account: NewAccount) -> User:
        """A SYSTEM_ADMIN, from the command line (no caller to authorize)."""
        user = await self._accounts.new(account, role=Role.SYSTEM_ADMIN)
        async with self._uow() as uow:
            await add_account(uow, user)
            record_audit(
                uow,
                RequestMeta(),
                UNATTENDED,
                AuditAction.USER_CREATE_ADMIN,
                user.id,
                None,
                {"source": "cli"},
            )
            await uow.commit()
        return user


def _audit(
    uow: UnitOfWork,
    meta: RequestMeta,
    actor: Principal,
    action: AuditAction,
    target: User,
    *,
    details: dict[str, object] | None = None,
) -> None:
    record_audit(uow, meta, actor, action, target.id, target.practice_id, details)


async def _administered(
    uow: UnitOfWork, actor: Principal, user_id: UUID, action: Action, *, for_update: bool = False
) -> User:
    """The account ``action`` administers. The action first: a role that may not
    administer users gets 403 for everyone; the account's practice then decides, for the
    roles that may (404 for an unknown account)."""
    require(actor, action)
    user = found(await uow.users.get(user_id, for_update=for_update), "User")
    require(actor, action, UserAccount(user.practice_id))
    return user
