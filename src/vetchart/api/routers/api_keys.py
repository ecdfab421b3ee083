"""API keys (PRACTICE_ADMIN of the practice): /api/v1/practices/{id}/api-keys, for
integrations (docs/auth.md, "API keys"). Managing keys is a person's business: a request
made with a key is refused here (403 ``api-key-not-allowed``)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request, Response, status

from vetchart.api.dependencies import ApiKeysDep, ClockDep
from vetchart.api.pagination import (
    DEFAULT_LIMIT,
    CursorQuery,
    LimitQuery,
    Paginator,
    parse_datetime,
)
from vetchart.api.presenters import api_key_out, api_key_with_secret_out
from vetchart.api.route_audit import audited
from vetchart.api.schemas.api_keys import ApiKeyIn, ApiKeyOut, ApiKeyWithSecretOut
from vetchart.api.schemas.common import ListResponse, problem_responses
from vetchart.api.security import PERSON_ONLY, CurrentPrincipal, MetaDep
from vetchart.domain.api_keys import CreateApiKey
from vetchart.domain.audit_actions import AuditAction

router = APIRouter(tags=["api-keys"], dependencies=[PERSON_ONLY])


@audited(AuditAction.API_KEY_CREATE)
@router.post(
    "/practices/{practice_id}/api-keys",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyWithSecretOut,
    summary="Create an API key for an integration; the answer carries the key, once",
    description="Only the SHA-256 of the key's secret is kept: store the key now, it is "
    "never shown again. The key acts within this practice only, as its admin limited to "
    "the scopes given. To rotate a key, create a new one and revoke the old.",
    responses=problem_responses(401, 403, 404, 409, 422, 429),
)
async def create_api_key(
    practice_id: UUID,
    body: ApiKeyIn,
    response: Response,
    principal: CurrentPrincipal,
    api_keys: ApiKeysDep,
    clock: ClockDep,
    meta: MetaDep,
) -> ApiKeyWithSecretOut:
    command = CreateApiKey(name=body.name, scopes=tuple(body.scopes), expires_at=body.expires_at)
    made = await api_keys.create(principal, practice_id, command, meta)
    response.headers["Location"] = f"/api/v1/practices/{practice_id}/api-keys/{made.key.id}"
    return api_key_with_secret_out(made, clock.now())


@audited(AuditAction.API_KEY_LIST)
@router.get(
    "/practices/{practice_id}/api-keys",
    response_model=ListResponse[ApiKeyOut],
    summary="A practice's API keys, newest first (revoked and expired ones too; no secrets)",
    responses=problem_responses(400, 401, 403, 404, 422, 429),
)
async def list_api_keys(
    practice_id: UUID,
    request: Request,
    principal: CurrentPrincipal,
    api_keys: ApiKeysDep,
    clock: ClockDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> ListResponse[ApiKeyOut]:
    pager = Paginator(request, "api-keys", {"practice_id": practice_id}, (parse_datetime, UUID))
    page = await api_keys.list(principal, practice_id, pager.page_request(cursor, limit))
    now = clock.now()
    return pager.answer(ListResponse[ApiKeyOut], page, lambda key: api_key_out(key, now))


@audited(AuditAction.API_KEY_READ)
@router.get(
    "/practices/{practice_id}/api-keys/{key_id}",
    response_model=ApiKeyOut,
    summary="An API key (no secret)",
    responses=problem_responses(401, 403, 404, 422, 429),
)
async def get_api_key(
    practice_id: UUID,
    key_id: UUID,
    principal: CurrentPrincipal,
    api_keys: ApiKeysDep,
    clock: ClockDep,
) -> ApiKeyOut:
    return api_key_out(await api_keys.get(principal, practice_id, key_id), clock.now())


@audited(AuditAction.API_KEY_REVOKE)
@router.delete(
    "/practices/{practice_id}/api-keys/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke an API key, at once",
    description="The key is refused (401) from the next request on; it stays listed, "
    "`revoked`. Revoking a revoked key is 204 again and changes nothing.",
    responses=problem_responses(401, 403, 404, 422, 429),
)
async def revoke_api_key(
    practice_id: UUID,
    key_id: UUID,
    principal: CurrentPrincipal,
    api_keys: ApiKeysDep,
    meta: MetaDep,
) -> None:
    await api_keys.revoke(principal, practice_id, key_id, meta)
