"""Client messages: /api/v1/pet-owners/{owner_id}/message-consent and .../messages, and a
practice's reminder rules (/api/v1/practices/{practice_id}/reminder-rules,
/api/v1/reminder-rules/{rule_id})."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request, Response, status

from vetchart.api.dependencies import MessagingDep
from vetchart.api.pagination import (
    DEFAULT_LIMIT,
    CursorQuery,
    LimitQuery,
    Paginator,
    parse_datetime,
)
from vetchart.api.presenters import consent_out, message_out, reminder_rule_out
from vetchart.api.route_audit import audited
from vetchart.api.schemas.common import ListResponse, problem_responses
from vetchart.api.schemas.messaging import (
    ConsentOut,
    ConsentUpdateIn,
    MessageOut,
    ReminderRuleIn,
    ReminderRuleOut,
    ReminderRuleUpdateIn,
)
from vetchart.api.security import CurrentPrincipal, MetaDep
from vetchart.domain.audit_actions import AuditAction
from vetchart.domain.messaging import ConsentChanges, NewReminderRule, ReminderRuleChanges

router = APIRouter(tags=["messages"])


@audited(AuditAction.MESSAGE_CONSENT_READ)
@router.get(
    "/pet-owners/{owner_id}/message-consent",
    response_model=ConsentOut,
    summary="An owner's consent per message channel (in scope)",
    description="One entry per channel (`email`, `sms`). A channel never set is not "
    "granted: no message goes out on it (the message log records it as skipped, "
    "`no_consent`).",
    responses=problem_responses(401, 403, 404, 429),
)
async def get_consent(
    owner_id: UUID, principal: CurrentPrincipal, messaging: MessagingDep, meta: MetaDep
) -> ConsentOut:
    return consent_out(owner_id, await messaging.consents(principal, owner_id, meta))


@audited(AuditAction.MESSAGE_CONSENT_UPDATE)
@router.patch(
    "/pet-owners/{owner_id}/message-consent",
    response_model=ConsentOut,
    summary="Opt in or out of a message channel (the owner; staff in scope)",
    description='`{"sms": false}` opts out of SMS, `{"email": true}` opts in to email; '
    "a channel not sent stays as it is. Each change records who made it and when.",
    responses=problem_responses(401, 403, 404, 422, 429),
)
async def change_consent(
    owner_id: UUID,
    body: ConsentUpdateIn,
    principal: CurrentPrincipal,
    messaging: MessagingDep,
    meta: MetaDep,
) -> ConsentOut:
    changes = ConsentChanges(**body.model_dump(exclude_unset=True))
    found = await messaging.change_consents(principal, owner_id, changes, meta)
    return consent_out(owner_id, found)


@audited(AuditAction.OWNER_MESSAGE_LIST)
@router.get(
    "/pet-owners/{owner_id}/messages",
    response_model=ListResponse[MessageOut],
    summary="An owner's message log (in scope)",
    description="Every message sent to the owner, or skipped (with the `reason`), newest "
    "first (created_at, id). The owner sees all of theirs; staff only their practice's.",
    responses=problem_responses(400, 401, 403, 404, 422, 429),
)
async def list_messages(
    owner_id: UUID,
    request: Request,
    principal: CurrentPrincipal,
    messaging: MessagingDep,
    meta: MetaDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> ListResponse[MessageOut]:
    pager = Paginator(request, "messages", {"owner_id": owner_id}, (parse_datetime, UUID))
    page = await messaging.messages(principal, owner_id, pager.page_request(cursor, limit), meta)
    return pager.answer(ListResponse[MessageOut], page, message_out)


@audited(AuditAction.REMINDER_RULE_CREATE)
@router.post(
    "/practices/{practice_id}/reminder-rules",
    status_code=status.HTTP_201_CREATED,
    response_model=ReminderRuleOut,
    summary="Add a reminder rule (its PRACTICE_ADMIN)",
    description="Vaccination records with `data.next_due` get a reminder `lead_days` before "
    "the due date (the shortest lead time whose day has come; each once), for pets of "
    "`species` (null: every species).",
    responses=problem_responses(401, 403, 404, 422, 429),
)
async def create_rule(
    practice_id: UUID,
    body: ReminderRuleIn,
    principal: CurrentPrincipal,
    messaging: MessagingDep,
    meta: MetaDep,
) -> ReminderRuleOut:
    new = NewReminderRule(**body.model_dump() | {"lead_days": tuple(body.lead_days)})
    return reminder_rule_out(await messaging.create_rule(principal, practice_id, new, meta))


@audited(AuditAction.REMINDER_RULE_LIST)
@router.get(
    "/practices/{practice_id}/reminder-rules",
    response_model=ListResponse[ReminderRuleOut],
    summary="A practice's reminder rules (its staff)",
    description="Oldest first (created_at, id).",
    responses=problem_responses(400, 401, 403, 404, 422, 429),
)
async def list_rules(
    practice_id: UUID,
    request: Request,
    principal: CurrentPrincipal,
    messaging: MessagingDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> ListResponse[ReminderRuleOut]:
    pager = Paginator(
        request, "reminder-rules", {"practice_id": practice_id}, (parse_datetime, UUID)
    )
    page = await messaging.rules(principal, practice_id, pager.page_request(cursor, limit))
    return pager.answer(ListResponse[ReminderRuleOut], page, reminder_rule_out)


@audited(AuditAction.REMINDER_RULE_UPDATE)
@router.patch(
    "/reminder-rules/{rule_id}",
    response_model=ReminderRuleOut,
    summary="Change a reminder rule (its practice's PRACTICE_ADMIN)",
    description="Reminders already made stay; new ones follow the rule as changed.",
    responses=problem_responses(401, 403, 404, 422, 429),
)
async def change_rule(
    rule_id: UUID,
    body: ReminderRuleUpdateIn,
    principal: CurrentPrincipal,
    messaging: MessagingDep,
    meta: MetaDep,
) -> ReminderRuleOut:
    sent = body.model_dump(exclude_unset=True)
    if isinstance(sent.get("lead_days"), list):
        sent["lead_days"] = tuple(sent["lead_days"])
    rule = await messaging.change_rule(principal, rule_id, ReminderRuleChanges(**sent), meta)
    return reminder_rule_out(rule)


@audited(AuditAction.REMINDER_RULE_DELETE)
@router.delete(
    "/reminder-rules/{rule_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a reminder rule (its practice's PRACTICE_ADMIN)",
    description="Reminders already made from it are still sent; no new ones are made.",
    responses=problem_responses(401, 403, 404, 429),
)
async def delete_rule(
    rule_id: UUID, principal: CurrentPrincipal, messaging: MessagingDep, meta: MetaDep
) -> Response:
    await messaging.delete_rule(principal, rule_id, meta)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
