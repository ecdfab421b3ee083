"""/api/v1/invitations: accepting a staff invitation (as a new user, or with the signed-in
account), and revoking one."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, status

from vetchart.api.dependencies import InvitationsDep, PracticesDep
from vetchart.api.presenters import invitation_state_out
from vetchart.api.route_audit import audited
from vetchart.api.schemas.clients import InvitationAcceptIn
from vetchart.api.schemas.common import problem_responses
from vetchart.api.schemas.lifecycle import InvitationAcceptExistingIn, InvitationStateOut
from vetchart.api.schemas.users import UserOut
from vetchart.api.security import PERSON_ONLY, CurrentPrincipal, MetaDep, limit_by_address
from vetchart.domain.audit_actions import AuditAction

router = APIRouter(prefix="/invitations", tags=["practices"], dependencies=[PERSON_ONLY])


@audited(AuditAction.INVITATION_ACCEPT)
@router.post(
    "/accept",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    summary="Accept an invitation: creates the staff user of that practice",
    description="The token is single use; a used, expired or unknown token is 410. The "
    "password rules of signup apply (422 naming the rule).",
    dependencies=[limit_by_address("signup")],
    responses=problem_responses(409, 410, 422, 429),
)
async def accept(body: InvitationAcceptIn, practices: PracticesDep, meta: MetaDep) -> UserOut:
    user = await practices.accept_invitation(
        token=body.token, password=body.password, full_name=body.full_name, meta=meta
    )
    return UserOut.model_validate(user)


@audited(AuditAction.INVITATION_ACCEPT_EXISTING)
@router.post(
    "/accept-existing",
    response_model=UserOut,
    summary="Accept an invitation with the signed-in account (its email must be the invited one)",
    description="For a person who has an account already (POST /invitations/accept makes a "
    "new one). The body is the token only. The account takes the invitation's role and "
    "practice, and every one of its sessions is revoked (their tokens name the old role): "
    "sign in again. The rules:\n\n"
    "- the invitation's email is not the account's: 403;\n"
    "- staff of the inviting practice already: 409 `already-staff`;\n"
    "- staff of another practice: the account moves to the inviting practice (a user has "
    "one practice); records it wrote stay its old practice's;\n"
    "- a PET_OWNER account without an owner profile becomes staff; with one: 409 "
    "`owner-profile-linked`;\n"
    "- SYSTEM_ADMIN: 403 (platform operators are not staff).\n\n"
    "A used, revoked, expired or unknown token is 410, as for a new account.",
    responses=problem_responses(401, 403, 409, 410, 422, 429),
)
async def accept_existing(
    body: InvitationAcceptExistingIn,
    principal: CurrentPrincipal,
    invitations: InvitationsDep,
    meta: MetaDep,
) -> UserOut:
    user = await invitations.accept_existing(principal, body.token, meta)
    return UserOut.model_validate(user)


@audited(AuditAction.INVITATION_REVOKE)
@router.post(
    "/{invitation_id}/revoke",
    response_model=InvitationStateOut,
    summary="Revoke an invitation (PRACTICE_ADMIN of its practice, SYSTEM_ADMIN)",
    description="A pending (or expired) invitation becomes `revoked`: accepting its token "
    "is 410 from now. Revoking a revoked one changes nothing (200); an accepted one is 409 "
    "`invitation-accepted`. Another practice's invitation does not exist for the caller "
    "(404).",
    responses=problem_responses(401, 403, 404, 409, 429),
)
async def revoke(
    invitation_id: UUID,
    principal: CurrentPrincipal,
    invitations: InvitationsDep,
    meta: MetaDep,
) -> InvitationStateOut:
    invitation = await invitations.revoke(principal, invitation_id, meta)
    return invitation_state_out(invitation, invitations.status(invitation))
