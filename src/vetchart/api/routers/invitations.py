"""/api/v1/invitations: accepting a staff invitation."""

from __future__ import annotations

from fastapi import APIRouter, status

from vetchart.api.dependencies import PracticesDep
from vetchart.api.route_audit import audited
from vetchart.api.schemas.clients import InvitationAcceptIn
from vetchart.api.schemas.common import problem_responses
from vetchart.api.schemas.users import UserOut
from vetchart.api.security import MetaDep, limit_by_address
from vetchart.domain.audit_actions import AuditAction

router = APIRouter(prefix="/invitations", tags=["practices"])


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
