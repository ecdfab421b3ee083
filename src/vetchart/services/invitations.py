"""Managing staff invitations: a practice's list, revoking one, and accepting one with an
account that exists already (issuing and accepting as a new user: services/practices.py).
"""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID

from vetchart.domain.audit import RequestMeta
from vetchart.domain.audit_actions import AuditAction
from vetchart.domain.errors import Conflict, Forbidden, Gone, NotFound
from vetchart.domain.invitations import (
    InvitationStatus,
    check_existing_account_may_join,
    invitation_status,
)
from vetchart.domain.policy import Action, InvitationRef, Principal, require
from vetchart.domain.users import Role, User
from vetchart.services.audit import record as _audit
from vetchart.services.auth.base import token_digest
from vetchart.services.base import practice_for
from vetchart.services.invalidation import sessions_changed
from vetchart.services.ports.identity import Invitation, UserQueries
from vetchart.services.ports.paging import Page, PageRequest
from vetchart.services.ports.system import Clock
from vetchart.services.ports.unit_of_work import UnitOfWorkFactory
from vetchart.services.practices import INVALID_INVITATION

# Why the sessions of an account that joined a practice were revoked.
JOINED_PRACTICE = "invitation_accepted"


class InvitationService:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        queries: UserQueries,
        clock: Clock,
    ) -> None:
        self._uow = uow
        self._queries = queries
        self._clock = clock

    def status(self, invitation: Invitation) -> InvitationStatus:
        return invitation_status(
            accepted_at=invitation.accepted_at,
            revoked_at=invitation.revoked_at,
            expires_at=invitation.expires_at,
            now=self._clock.now(),
        )

    async def list(
        self,
        actor: Principal,
        practice_id: UUID,
        status: InvitationStatus | None,
        page: PageRequest,
    ) -> Page[Invitation]:
        """A practice's invitations, newest first, in one state (None: all)."""
        async with self._uow() as uow:
            await practice_for(uow, actor, Action.INVITATION_MANAGE, practice_id)
        return await self._queries.invitations_page(practice_id, status, self._clock.now(), page)

    async def revoke(self, actor: Principal, invitation_id: UUID, meta: RequestMeta) -> Invitation:
        """pending (or expired) -> revoked; revoking a revoked one changes nothing; an
        accepted one is 409."""
        require(actor, Action.INVITATION_MANAGE)
        async with self._uow() as uow:
            invitation = await uow.invitations.get(invitation_id, for_update=True)
            if invitation is None:
                raise NotFound("Invitation not found.")
            require(actor, Action.INVITATION_MANAGE, InvitationRef(invitation.practice_id))
            status = self.status(invitation)
            if status is InvitationStatus.REVOKED:
                return invitation
            if status is InvitationStatus.ACCEPTED:
                raise Conflict(
                    "This invitation was accepted already; manage the user instead.",
                    code="invitation-accepted",
                )
            now = self._clock.now()
            await uow.invitations.mark_revoked(invitation.id, actor.user_id, now)
            _audit(
                uow,
                meta,
                actor,
                AuditAction.INVITATION_REVOKE,
                invitation.id,
                invitation.practice_id,
                {"role": invitation.role.value, "was": status.value},
            )
            await uow.commit()
        return replace(invitation, revoked_at=now, revoked_by=actor.user_id)

    async def accept_existing(self, actor: Principal, token: str, meta: RequestMeta) -> User:
        """The signed-in account joins the invitation's practice with its role (the rules:
        ``domain.invitations.check_existing_account_may_join``). The invitation's email
        must be the account's. Every session of the account is revoked: its tokens carry
        the old role and practice, so the person signs in again."""
        require(actor, Action.INVITATION_ACCEPT_EXISTING)
        digest = token_digest(token)
        async with self._uow() as uow:
            invitation = await uow.invitations.get_by_token_hash(digest)  # row-locked
            now = self._clock.now()
            if invitation is None or self.status(invitation) is not InvitationStatus.PENDING:
                raise Gone(INVALID_INVITATION, code="invitation-invalid")
            practice = await uow.practices.get(invitation.practice_id)
            if practice is None or not practice.is_active:
                raise Gone(INVALID_INVITATION, code="invitation-invalid")
            user = await uow.users.get(actor.user_id, for_update=True)
            if user is None:  # pragma: no cover - the principal's account exists
                raise NotFound("User not found.")
            if user.email != invitation.email:
                raise Forbidden(
                    "This invitation was issued to another email address.",
                    code="invitation-email-mismatch",
                    extra={"action": Action.INVITATION_ACCEPT_EXISTING.value},
                )
            has_profile = (
                user.role is Role.PET_OWNER
                and await uow.pet_owners.get_by_user(user.id) is not None
            )
            check_existing_account_may_join(
                role=user.role,
                practice_id=user.practice_id,
                has_owner_profile=has_profile,
                invitation_practice_id=invitation.practice_id,
            )
            joined = replace(
                user, role=invitation.role, practice_id=invitation.practice_id, updated_at=now
            )
            await uow.users.save(joined)
            await uow.invitations.mark_accepted(invitation.id, user.id, now)
            revoked = await uow.sessions.revoke_all(user.id, now, JOINED_PRACTICE)
            _audit(
                uow,
                meta,
                actor,
                AuditAction.INVITATION_ACCEPT_EXISTING,
                invitation.id,
                invitation.practice_id,
                {
                    "user_id": str(user.id),
                    "role": joined.role.value,
                    "from_role": user.role.value,
                    "from_practice_id": None if user.practice_id is None else str(user.practice_id),
                    "revoked_sessions": len(revoked),
                },
            )
            sessions_changed(uow, user.id, [*revoked, actor.session_id], JOINED_PRACTICE)
            await uow.commit()
        return joined
