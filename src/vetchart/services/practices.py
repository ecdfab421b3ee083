"""Practices (the tenants), their staff, and staff invitations."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from uuid import UUID

from vetchart.domain.audit import RequestMeta
from vetchart.domain.audit_actions import AuditAction
from vetchart.domain.commands import given
from vetchart.domain.errors import Conflict, Gone, NotFound, RuleViolation
from vetchart.domain.invitations import (
    InvitationStatus,
    check_existing_account_may_join,
    invitation_status,
)
from vetchart.domain.passwords import GuessabilityCheck
from vetchart.domain.policy import (
    Action,
    PracticeBusiness,
    PracticeLookup,
    Principal,
    may_invite_as,
    require,
)
from vetchart.domain.practices import (
    InvitationCreated,
    NewPractice,
    Practice,
    PracticeChanges,
)
from vetchart.domain.users import Role, User, normalize_email, normalize_full_name
from vetchart.services.accounts import new_account
from vetchart.services.audit import record as _audit
from vetchart.services.audit import save_changes
from vetchart.services.auth.base import token_digest
from vetchart.services.base import QueryService
from vetchart.services.ports.clients import ClientQueries
from vetchart.services.ports.identity import Invitation, PasswordHasher
from vetchart.services.ports.paging import Page, PageRequest
from vetchart.services.ports.system import Clock, IdGenerator
from vetchart.services.ports.unit_of_work import UnitOfWorkFactory

INVITATION_TTL = timedelta(days=7)
INVITATION_TOKEN_BYTES = 32
INVALID_INVITATION = "This invitation is no longer valid (used, expired or unknown)."


@dataclass(frozen=True)
class IssuedInvitation:
    invitation: Invitation
    token: str


class PracticeService(QueryService[ClientQueries]):
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        queries: ClientQueries,
        clock: Clock,
        ids: IdGenerator,
        hasher: PasswordHasher,
        guessability: GuessabilityCheck,
    ) -> None:
        super().__init__(uow=uow, queries=queries, clock=clock, ids=ids)
        self._hasher = hasher
        self._guessability = guessability

    # ------------------------------------------------------------------ practices

    async def create(self, actor: Principal, new: NewPractice, meta: RequestMeta) -> Practice:
        require(actor, Action.PRACTICE_CREATE)
        now = self._clock.now()
        practice = Practice(id=self._ids.new_id(), created_at=now, updated_at=now, **given(new))
        async with self._uow() as uow:
            await uow.practices.add(practice)
            _audit(uow, meta, actor, AuditAction.PRACTICE_CREATE, practice.id, practice.id)
            await uow.commit()
        return practice

    async def get(self, actor: Principal, practice_id: UUID) -> Practice:
        async with self._uow() as uow:
            practice = await uow.practices.get(practice_id)
        require(actor, Action.PRACTICE_READ, PracticeLookup(practice, members_only=False))
        assert practice is not None  # require: 404 for a missing practice
        return practice

    async def list(self, actor: Principal, page: PageRequest) -> Page[Practice]:
        require(actor, Action.PRACTICE_READ)
        return await self._queries.practices_page(page)

    async def update(
        self, actor: Principal, practice_id: UUID, changes: PracticeChanges, meta: RequestMeta
    ) -> Practice:
        async with self._uow() as uow:
            practice = await uow.practices.get(practice_id, for_update=True)
            require(actor, Action.PRACTICE_UPDATE, PracticeLookup(practice))
            assert practice is not None  # require: 404 for a missing practice
            return await save_changes(
                uow,
                meta,
                actor,
                AuditAction.PRACTICE_UPDATE,
                practice,
                given(changes),
                now=self._clock.now,
                save=uow.practices.save,
                practice_id=practice.id,
                version=practice.version + 1,
            )

    async def deactivate(self, actor: Principal, practice_id: UUID, meta: RequestMeta) -> Practice:
        require(actor, Action.PRACTICE_DEACTIVATE)
        async with self._uow() as uow:
            practice = await uow.practices.get(practice_id, for_update=True)
            if practice is None:
                raise NotFound("Practice not found.")
            if not practice.is_active:
                return practice
            now = self._clock.now()
            updated = replace(
                practice, is_active=False, updated_at=now, version=practice.version + 1
            )
            await uow.practices.save(updated)
            _audit(uow, meta, actor, AuditAction.PRACTICE_DEACTIVATE, practice.id, practice.id)
            await uow.commit()
        return updated

    async def staff(self, actor: Principal, practice_id: UUID, page: PageRequest) -> Page[User]:
        await self.get(actor, practice_id)
        require(actor, Action.PRACTICE_STAFF_LIST, PracticeBusiness(practice_id))
        return await self._queries.staff_page(practice_id, page)

    # ------------------------------------------------------------------ invitations

    async def invite(
        self, actor: Principal, practice_id: UUID, *, email: str, role: Role, meta: RequestMeta
    ) -> IssuedInvitation:
        """A single-use token, valid 7 days, for a new staff member of the practice."""
        practice = await self.get(actor, practice_id)
        require(actor, Action.INVITATION_CREATE, PracticeBusiness(practice_id))
        if not practice.is_active:  # only a SYSTEM_ADMIN still sees it
            raise Conflict(
                "This practice is deactivated; its invitations could never be accepted.",
                code="practice-inactive",
            )
        if not may_invite_as(role):
            raise RuleViolation(
                "Invitations are for staff roles only.", rule="invitation.staff_role", field="role"
            )
        email = normalize_email(email)
        token = secrets.token_urlsafe(INVITATION_TOKEN_BYTES)
        now = self._clock.now()
        invitation = Invitation(
            id=self._ids.new_id(),
            practice_id=practice_id,
            email=email,
            role=role,
            token_hash=token_digest(token),
            invited_by=actor.user_id,
            created_at=now,
            expires_at=now + INVITATION_TTL,
        )
        async with self._uow() as uow:
            existing = await uow.users.get_by_email(email)
            if existing is not None:
                # An existing account accepts with POST /invitations/accept-existing; one
                # that could never accept is refused now (domain/invitations.py).
                check_existing_account_may_join(
                    role=existing.role,
                    practice_id=existing.practice_id,
                    has_owner_profile=existing.role is Role.PET_OWNER
                    and await uow.pet_owners.get_by_user(existing.id) is not None,
                    invitation_practice_id=practice_id,
                )
            await uow.invitations.add(invitation)
            # The mail goes out from the outbox, after (and only after) the commit.
            uow.record(
                InvitationCreated(
                    invitation_id=invitation.id,
                    practice_id=practice_id,
                    practice_name=practice.name,
                    email=email,
                    role=role.value,
                    expires_at=invitation.expires_at,
                    token=token,
                )
            )
            _audit(
                uow,
                meta,
                actor,
                AuditAction.INVITATION_CREATE,
                invitation.id,
                practice_id,
                {"role": role.value},
            )
            await uow.commit()
        return IssuedInvitation(invitation, token)

    async def accept_invitation(
        self, *, token: str, password: str, full_name: str, meta: RequestMeta
    ) -> User:
        """Creates the staff user in the invitation's practice; the token is spent."""
        full_name = normalize_full_name(full_name)
        digest = token_digest(token)
        async with self._uow() as uow:
            peek = await uow.invitations.get_by_token_hash(digest)
        if peek is None or not _usable(peek, self._clock.now()):
            raise Gone(INVALID_INVITATION, code="invitation-invalid")
        user = await new_account(
            email=peek.email,
            full_name=full_name,
            password=password,
            role=peek.role,
            practice_id=peek.practice_id,
            ids=self._ids,
            clock=self._clock,
            hasher=self._hasher,
            guessability=self._guessability,
        )
        async with self._uow() as uow:
            invitation = await uow.invitations.get_by_token_hash(digest)  # row-locked
            now = self._clock.now()
            if invitation is None or not _usable(invitation, now):
                raise Gone(INVALID_INVITATION, code="invitation-invalid")
            practice = await uow.practices.get(invitation.practice_id)
            if practice is None or not practice.is_active:
                raise Gone(INVALID_INVITATION, code="invitation-invalid")
            await uow.users.add(user)
            await uow.invitations.mark_accepted(invitation.id, user.id, now)
            _audit(
                uow,
                meta,
                user,
                AuditAction.INVITATION_ACCEPT,
                invitation.id,
                user.practice_id,
                {"user_id": str(user.id)},
            )
            await uow.commit()
        return user


def _usable(invitation: Invitation, now: datetime) -> bool:
    """Pending: not yet accepted, not revoked and not expired (single use, 7 days)."""
    status = invitation_status(
        accepted_at=invitation.accepted_at,
        revoked_at=invitation.revoked_at,
        expires_at=invitation.expires_at,
        now=now,
    )
    return status is InvitationStatus.PENDING
