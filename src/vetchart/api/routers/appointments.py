"""Appointments and the daily dashboard."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status

from vetchart.api.dependencies import AppointmentsDep, DashboardDep, RecordsDep
from vetchart.api.pagination import (
    DEFAULT_LIMIT,
    CursorQuery,
    LimitQuery,
    Paginator,
    parse_datetime,
)
from vetchart.api.presenters import (
    appointment_item,
    appointment_out,
    json_response,
    record_out,
    visit_out,
)
from vetchart.api.route_audit import audited
from vetchart.api.schemas.bounded import BoundedAwareDatetime, BoundedDate
from vetchart.api.schemas.common import ListResponse, problem_responses
from vetchart.api.schemas.schedule import (
    AppointmentIn,
    AppointmentOut,
    AppointmentPatch,
    DashboardOut,
    StatusIn,
)
from vetchart.api.security import CurrentPrincipal, MetaDep
from vetchart.api.versioning import IfMatchHeader, etag, parse_if_match
from vetchart.domain.appointments import (
    AppointmentChanges,
    AppointmentStatus,
    NewAppointment,
)
from vetchart.domain.audit_actions import AuditAction
from vetchart.services.ports.schedule import AppointmentView, DashboardView

router = APIRouter(tags=["appointments"])


def _with_etag(response: Response, view: AppointmentView) -> AppointmentOut:
    response.headers["ETag"] = etag(view.appointment.version)
    return appointment_out(view)


@audited(AuditAction.APPOINTMENT_CREATE)
@router.post(
    "/practices/{practice_id}/appointments",
    status_code=status.HTTP_201_CREATED,
    response_model=AppointmentOut,
    summary="Book an appointment (the practice's staff)",
    description="The vet's slot must be free: an overlap answers 409 naming the clashing "
    "appointment (`conflicting_appointment_id`). Pets must be the owner's.",
    responses=problem_responses(400, 401, 403, 404, 409, 422, 429),
)
async def create_appointment(
    practice_id: UUID,
    body: AppointmentIn,
    response: Response,
    principal: CurrentPrincipal,
    appointments: AppointmentsDep,
    meta: MetaDep,
) -> AppointmentOut:
    view = await appointments.create(
        principal, practice_id, NewAppointment(**body.model_dump()), meta
    )
    response.headers["Location"] = f"/api/v1/appointments/{view.appointment.id}"
    return _with_etag(response, view)


@audited(AuditAction.PRACTICE_APPOINTMENT_LIST)
@router.get(
    "/practices/{practice_id}/appointments",
    response_model=ListResponse[AppointmentOut],
    summary="The practice's appointments (its staff)",
    description="By start time. `date` is a day in the practice's timezone; `from`/`to` "
    "bound start_at as [from, to).",
    responses=problem_responses(400, 401, 403, 404, 422, 429),
)
async def practice_appointments(
    practice_id: UUID,
    request: Request,
    response: Response,
    principal: CurrentPrincipal,
    appointments: AppointmentsDep,
    meta: MetaDep,
    day: Annotated[BoundedDate | None, Query(alias="date")] = None,
    start_from: Annotated[BoundedAwareDatetime | None, Query(alias="from")] = None,
    start_to: Annotated[BoundedAwareDatetime | None, Query(alias="to")] = None,
    vet_id: UUID | None = None,
    status_filter: Annotated[AppointmentStatus | None, Query(alias="status")] = None,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> Response:
    filters = {
        "practice_id": practice_id,
        "date": day,
        "from": start_from,
        "to": start_to,
        "vet_id": vet_id,
        "status": status_filter,
    }
    pager = Paginator(request, "appointments", filters, (parse_datetime, UUID))
    page = await appointments.for_practice(
        principal,
        practice_id,
        day=day,
        start_from=start_from,
        start_to=start_to,
        vet_id=vet_id,
        status=status_filter,
        page=pager.page_request(cursor, limit),
        meta=meta,
    )
    return pager.answer_rows(page, appointment_item, response)


@audited(AuditAction.OWNER_APPOINTMENT_LIST)
@router.get(
    "/pet-owners/{owner_id}/appointments",
    response_model=ListResponse[AppointmentOut],
    summary="An owner's appointments (the owner; staff see their practice's)",
    responses=problem_responses(400, 401, 403, 404, 422, 429),
)
async def owner_appointments(
    owner_id: UUID,
    request: Request,
    response: Response,
    principal: CurrentPrincipal,
    appointments: AppointmentsDep,
    meta: MetaDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> Response:
    pager = Paginator(request, "owner-appointments", {"owner_id": owner_id}, (parse_datetime, UUID))
    page = await appointments.for_owner(
        principal, owner_id, pager.page_request(cursor, limit), meta
    )
    return pager.answer_rows(page, appointment_item, response)


@audited(AuditAction.APPOINTMENT_READ)
@router.get(
    "/appointments/{appointment_id}",
    response_model=AppointmentOut,
    summary="One appointment",
    responses=problem_responses(401, 403, 404, 429),
)
async def get_appointment(
    appointment_id: UUID,
    response: Response,
    principal: CurrentPrincipal,
    appointments: AppointmentsDep,
    meta: MetaDep,
) -> Response:
    row = await appointments.get(principal, appointment_id, meta)
    return json_response(appointment_item(row), response, headers={"ETag": etag(row["version"])})


@audited(AuditAction.APPOINTMENT_UPDATE)
@router.patch(
    "/appointments/{appointment_id}",
    response_model=AppointmentOut,
    summary="Reschedule or edit (staff; If-Match)",
    description="Time, vet and pets change only while requested, scheduled or confirmed; an "
    "overlap answers 409.",
    responses=problem_responses(400, 401, 403, 404, 409, 412, 422, 428, 429),
)
async def update_appointment(
    appointment_id: UUID,
    body: AppointmentPatch,
    response: Response,
    principal: CurrentPrincipal,
    appointments: AppointmentsDep,
    meta: MetaDep,
    if_match: IfMatchHeader = None,
) -> AppointmentOut:
    view = await appointments.update(
        principal,
        appointment_id,
        AppointmentChanges(**body.model_dump(exclude_unset=True)),
        parse_if_match(if_match),
        meta,
    )
    return _with_etag(response, view)


@audited(AuditAction.APPOINTMENT_STATUS_CHANGE)
@router.post(
    "/appointments/{appointment_id}/status",
    response_model=AppointmentOut,
    summary="Move an appointment along its status machine (staff)",
    description="requested (an owner's request) → scheduled/confirmed, or declined; "
    "scheduled → confirmed → checked_in → in_progress → completed; cancelled from "
    "requested/scheduled/confirmed/checked_in; no_show from scheduled/confirmed. Anything "
    "else is 409.",
    responses=problem_responses(400, 401, 403, 404, 409, 422, 429),
)
async def set_appointment_status(
    appointment_id: UUID,
    body: StatusIn,
    response: Response,
    principal: CurrentPrincipal,
    appointments: AppointmentsDep,
    meta: MetaDep,
) -> AppointmentOut:
    view = await appointments.set_status(principal, appointment_id, body.status, meta)
    return _with_etag(response, view)


@audited(AuditAction.DASHBOARD_READ)
@router.get(
    "/dashboard/today",
    response_model=DashboardOut,
    summary="Today at the caller's practice (staff)",
    description="Today in the practice's timezone: appointments with pets and owners "
    "(optionally one vet's), follow-ups due, visits awaiting review. Cached briefly; changes "
    "invalidate it.",
    responses=problem_responses(401, 403, 422, 429),
)
async def dashboard_today(
    principal: CurrentPrincipal,
    records: RecordsDep,
    dashboard: DashboardDep,
    meta: MetaDep,
    vet_id: UUID | None = None,
) -> Response:
    async def render(view: DashboardView) -> bytes:
        assert view.day is not None
        assert view.timezone is not None
        out = DashboardOut(
            date=view.day,
            timezone=view.timezone,
            appointments=[appointment_out(a) for a in view.appointments],
            follow_ups=[record_out(records.view(r)) for r in view.follow_ups],
            visits_awaiting_review=[visit_out(v) for v in view.visits_awaiting_review],
        )
        return out.model_dump_json().encode()

    body = await dashboard.today(principal, vet_id, meta, render)
    return Response(content=body, media_type="application/json")
