"""/api/v1/users: own profile and user administration."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, status

from vetchart.api.dependencies import UsersDep
from vetchart.api.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery, Paginator
from vetchart.api.route_audit import audited
from vetchart.api.schemas.common import ListResponse, problem_responses
from vetchart.api.schemas.users import MeUpdateIn, UserAdminUpdateIn, UserOut
from vetchart.api.security import PERSON_ONLY, CurrentPrincipal, EnrollingPrincipal, MetaDep
from vetchart.domain.audit_actions import AuditAction
from vetchart.domain.users import ProfileChanges, Role, UserChanges
from vetchart.services.ports.identity import UserFilters

router = APIRouter(prefix="/users", tags=["users"], dependencies=[PERSON_ONLY])


@audited(AuditAction.OWN_USER_READ)
@router.get(
    "/me",
    response_model=UserOut,
    summary="Your own profile",
    responses=problem_responses(401, 429),
)
async def get_me(principal: EnrollingPrincipal, users: UsersDep) -> UserOut:
    return UserOut.model_validate(await users.me(principal))


@audited(AuditAction.OWN_USER_UPDATE)
@router.patch(
    "/me",
    response_model=UserOut,
    summary="Update your own profile",
    description="Only `full_name` can be changed here; `role`, `practice_id`, `is_active` "
    "(and any other field) are refused with 422.",
    responses=problem_responses(401, 403, 422, 429),
)
async def patch_me(
    body: MeUpdateIn, principal: CurrentPrincipal, users: UsersDep, meta: MetaDep
) -> UserOut:
    user = await users.update_me(principal, ProfileChanges(body.full_name), meta)
    return UserOut.model_validate(user)


@audited(AuditAction.USER_LIST)
@router.get(
    "",
    response_model=ListResponse[UserOut],
    summary="List users (SYSTEM_ADMIN: all; PRACTICE_ADMIN: own practice)",
    description="Ordered by full_name, then id.",
    responses=problem_responses(400, 401, 403, 422, 429),
)
async def list_users(
    request: Request,
    principal: CurrentPrincipal,
    users: UsersDep,
    role: Role | None = None,
    practice_id: UUID | None = None,
    q: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> ListResponse[UserOut]:
    filters = {"role": role, "practice_id": practice_id, "q": q}
    pager = Paginator(request, "users", filters, (str, UUID))
    page = await users.list_users(
        principal,
        UserFilters(practice_id=practice_id, role=role, q=q),
        pager.page_request(cursor, limit),
    )
    return pager.answer(ListResponse[UserOut], page, UserOut.model_validate)


@audited(AuditAction.USER_READ)
@router.get(
    "/{user_id}",
    response_model=UserOut,
    summary="One user (SYSTEM_ADMIN; PRACTICE_ADMIN for own practice)",
    responses=problem_responses(401, 403, 404, 429),
)
async def get_user(user_id: UUID, principal: CurrentPrincipal, users: UsersDep) -> UserOut:
    return UserOut.model_validate(await users.get_user(principal, user_id))


@audited(AuditAction.USER_UPDATE)
@router.patch(
    "/{user_id}",
    response_model=UserOut,
    summary="Change a user's role (staff roles) or active flag",
    description="Deactivation revokes every session of the user at once.",
    responses=problem_responses(401, 403, 404, 409, 422, 429),
)
async def patch_user(
    user_id: UUID,
    body: UserAdminUpdateIn,
    principal: CurrentPrincipal,
    users: UsersDep,
    meta: MetaDep,
) -> UserOut:
    user = await users.update_user(
        principal, user_id, UserChanges(role=body.role, is_active=body.is_active), meta
    )
    return UserOut.model_validate(user)


@audited(AuditAction.USER_UNLOCK)
@router.post(
    "/{user_id}/unlock",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Clear a sign-in lockout",
    description="Clears every sign-in lockout of the user and the failures counted towards "
    "one: those of each client address and the account-wide ones, for passwords and MFA "
    "codes alike.",
    responses=problem_responses(401, 403, 404, 429),
)
async def unlock_user(
    user_id: UUID, principal: CurrentPrincipal, users: UsersDep, meta: MetaDep
) -> None:
    await users.unlock(principal, user_id, meta)
