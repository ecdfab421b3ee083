"""Scheduling: opening hours and booking settings, rosters, exceptions, appointment types,
free slots, and owners' appointment requests and cancellations (docs/scheduling.md)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response, status

from vetchart.api.dependencies import SchedulingDep
from vetchart.api.presenters import appointment_out
from vetchart.api.presenters.scheduling import (
    exception_out,
    roster_out,
    settings_out,
    slots_out,
    type_out,
)
from vetchart.api.route_audit import audited
from vetchart.api.schemas.bounded import BoundedDate
from vetchart.api.schemas.common import problem_responses
from vetchart.api.schemas.schedule import AppointmentOut
from vetchart.api.schemas.scheduling import (
    AppointmentRequestIn,
    AppointmentTypeIn,
    AppointmentTypeOut,
    AppointmentTypesOut,
    RosterIn,
    RosterOut,
    RostersOut,
    ScheduleExceptionIn,
    ScheduleExceptionOut,
    ScheduleExceptionsOut,
    ScheduleSettingsIn,
    ScheduleSettingsOut,
    SlotsOut,
    WeeklyIntervalIO,
)
from vetchart.api.security import CurrentPrincipal, MetaDep
from vetchart.api.versioning import etag
from vetchart.domain.appointments import AppointmentType
from vetchart.domain.audit_actions import AuditAction
from vetchart.domain.scheduling import (
    AppointmentRequest,
    NewException,
    RosterSpec,
    SettingsSpec,
    TypeSpec,
    WeeklyInterval,
)

router = APIRouter(tags=["scheduling"])


def _weekly(items: list[WeeklyIntervalIO]) -> tuple[WeeklyInterval, ...]:
    return tuple(WeeklyInterval(i.weekday, i.start_time, i.end_time) for i in items)


@audited(AuditAction.SCHEDULE_SETTINGS_READ)
@router.get(
    "/practices/{practice_id}/schedule-settings",
    response_model=ScheduleSettingsOut,
    summary="Opening hours and booking settings (the practice's staff)",
    description="Weekly opening hours (wall-clock times in the practice's timezone), the "
    "owners' cancellation cut-off and the slot step. Defaults (no hours: no free slots) "
    "until a PRACTICE_ADMIN saves them.",
    responses=problem_responses(401, 403, 404, 429),
)
async def get_settings(
    practice_id: UUID, principal: CurrentPrincipal, scheduling: SchedulingDep
) -> ScheduleSettingsOut:
    return settings_out(await scheduling.settings(principal, practice_id))


@audited(AuditAction.SCHEDULE_SETTINGS_UPDATE)
@router.put(
    "/practices/{practice_id}/schedule-settings",
    response_model=ScheduleSettingsOut,
    summary="Replace opening hours and booking settings (PRACTICE_ADMIN, SYSTEM_ADMIN)",
    description="The whole set: `opening_hours` replaces every weekly interval. Intervals "
    "of one weekday may not overlap (422).",
    responses=problem_responses(400, 401, 403, 404, 422, 429),
)
async def put_settings(
    practice_id: UUID,
    body: ScheduleSettingsIn,
    principal: CurrentPrincipal,
    scheduling: SchedulingDep,
    meta: MetaDep,
) -> ScheduleSettingsOut:
    spec = SettingsSpec(
        opening_hours=_weekly(body.opening_hours),
        cancel_cutoff_hours=body.cancel_cutoff_hours,
        slot_step_minutes=body.slot_step_minutes,
    )
    return settings_out(await scheduling.put_settings(principal, practice_id, spec, meta))


@audited(AuditAction.ROSTER_LIST)
@router.get(
    "/practices/{practice_id}/rosters",
    response_model=RostersOut,
    summary="Every vet's weekly roster (the practice's staff)",
    description="The practice's active vets by name, each with their weekly availability "
    "(empty: not rostered, so no free slots).",
    responses=problem_responses(401, 403, 404, 429),
)
async def list_rosters(
    practice_id: UUID, principal: CurrentPrincipal, scheduling: SchedulingDep
) -> RostersOut:
    views = await scheduling.rosters(principal, practice_id)
    return RostersOut(items=[roster_out(view) for view in views])


@audited(AuditAction.ROSTER_UPDATE)
@router.put(
    "/practices/{practice_id}/rosters/{vet_id}",
    response_model=RosterOut,
    summary="Replace a vet's weekly roster (PRACTICE_ADMIN, SYSTEM_ADMIN)",
    description="`vet_id` must be an active VET of the practice (404 otherwise).",
    responses=problem_responses(400, 401, 403, 404, 422, 429),
)
async def put_roster(
    practice_id: UUID,
    vet_id: UUID,
    body: RosterIn,
    principal: CurrentPrincipal,
    scheduling: SchedulingDep,
    meta: MetaDep,
) -> RosterOut:
    spec = RosterSpec(intervals=_weekly(body.intervals))
    return roster_out(await scheduling.put_roster(principal, practice_id, vet_id, spec, meta))


@audited(AuditAction.SCHEDULE_EXCEPTION_LIST)
@router.get(
    "/practices/{practice_id}/schedule-exceptions",
    response_model=ScheduleExceptionsOut,
    summary="Closures, special hours and vets' one-off changes (the practice's staff)",
    description="The days `from`..`to` (inclusive, at most 92 days): by date, the "
    "practice's own first, then by vet. `vet_id`: the practice's and that vet's only.",
    responses=problem_responses(401, 403, 404, 422, 429),
)
async def list_exceptions(
    practice_id: UUID,
    principal: CurrentPrincipal,
    scheduling: SchedulingDep,
    first: Annotated[BoundedDate, Query(alias="from")],
    last: Annotated[BoundedDate, Query(alias="to")],
    vet_id: UUID | None = None,
) -> ScheduleExceptionsOut:
    found = await scheduling.exceptions(principal, practice_id, first, last, vet_id)
    return ScheduleExceptionsOut(items=[exception_out(e) for e in found])


@audited(AuditAction.SCHEDULE_EXCEPTION_CREATE)
@router.post(
    "/practices/{practice_id}/schedule-exceptions",
    status_code=status.HTTP_201_CREATED,
    response_model=ScheduleExceptionOut,
    summary="Add a closure, special hours or a vet's one-off change (PRACTICE_ADMIN, SYSTEM_ADMIN)",
    description="Without `vet_id`: the practice's day (no times: closed; times: open only "
    "then). With `vet_id`: that vet's day (no times: off; times: working only then). One "
    "per practice or vet and day: a second answers 409.",
    responses=problem_responses(400, 401, 403, 404, 409, 422, 429),
)
async def add_exception(
    practice_id: UUID,
    body: ScheduleExceptionIn,
    response: Response,
    principal: CurrentPrincipal,
    scheduling: SchedulingDep,
    meta: MetaDep,
) -> ScheduleExceptionOut:
    new = NewException(
        day=body.date,
        vet_id=body.vet_id,
        start_time=body.start_time,
        end_time=body.end_time,
        reason=body.reason,
    )
    exception = await scheduling.add_exception(principal, practice_id, new, meta)
    response.headers["Location"] = (
        f"/api/v1/practices/{practice_id}/schedule-exceptions/{exception.id}"
    )
    return exception_out(exception)


@audited(AuditAction.SCHEDULE_EXCEPTION_DELETE)
@router.delete(
    "/practices/{practice_id}/schedule-exceptions/{exception_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove an exception (PRACTICE_ADMIN, SYSTEM_ADMIN)",
    responses=problem_responses(401, 403, 404, 429),
)
async def remove_exception(
    practice_id: UUID,
    exception_id: UUID,
    principal: CurrentPrincipal,
    scheduling: SchedulingDep,
    meta: MetaDep,
) -> Response:
    await scheduling.remove_exception(principal, practice_id, exception_id, meta)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@audited(AuditAction.APPOINTMENT_TYPE_LIST)
@router.get(
    "/practices/{practice_id}/appointment-types",
    response_model=AppointmentTypesOut,
    summary="The practice's appointment types and default durations (signed-in)",
    description="By `appointment_type`. Owners see which they may request online "
    "(`owner_bookable`).",
    responses=problem_responses(401, 404, 429),
)
async def list_types(
    practice_id: UUID, principal: CurrentPrincipal, scheduling: SchedulingDep
) -> AppointmentTypesOut:
    found = await scheduling.types(principal, practice_id)
    return AppointmentTypesOut(items=[type_out(t) for t in found])


@audited(AuditAction.APPOINTMENT_TYPE_UPDATE)
@router.put(
    "/practices/{practice_id}/appointment-types/{appointment_type}",
    response_model=AppointmentTypeOut,
    summary="Set an appointment type (PRACTICE_ADMIN, SYSTEM_ADMIN)",
    description="Creates or replaces the practice's settings for that type (its id kept).",
    responses=problem_responses(400, 401, 403, 404, 422, 429),
)
async def put_type(
    practice_id: UUID,
    appointment_type: AppointmentType,
    body: AppointmentTypeIn,
    principal: CurrentPrincipal,
    scheduling: SchedulingDep,
    meta: MetaDep,
) -> AppointmentTypeOut:
    spec = TypeSpec(
        name=body.name, duration_minutes=body.duration_minutes, owner_bookable=body.owner_bookable
    )
    setting = await scheduling.put_type(principal, practice_id, appointment_type, spec, meta)
    return type_out(setting)


@audited(AuditAction.APPOINTMENT_TYPE_DELETE)
@router.delete(
    "/practices/{practice_id}/appointment-types/{appointment_type}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove an appointment type (PRACTICE_ADMIN, SYSTEM_ADMIN)",
    description="Existing appointments of the type stay; it has no free slots any more.",
    responses=problem_responses(401, 403, 404, 422, 429),
)
async def remove_type(
    practice_id: UUID,
    appointment_type: AppointmentType,
    principal: CurrentPrincipal,
    scheduling: SchedulingDep,
    meta: MetaDep,
) -> Response:
    await scheduling.remove_type(principal, practice_id, appointment_type, meta)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@audited(AuditAction.SLOT_LIST)
@router.get(
    "/practices/{practice_id}/slots",
    response_model=SlotsOut,
    summary="Free slots on a day (the practice's staff and its approved clients)",
    description="`date` is a day in the practice's timezone; each slot lasts the type's "
    "default duration, starts every `slot_step_minutes` from the start of each interval "
    "where a vet is rostered while the practice is open (after closures and one-off "
    "changes), misses the vet's appointments that hold their slot, and is not in the "
    "past. Times carry the practice's offset of that moment (DST-correct). Without "
    "`vet_id`: every vet's, by start time then vet name. Owners: types marked "
    "`owner_bookable` only.",
    responses=problem_responses(401, 403, 404, 422, 429),
)
async def list_slots(
    practice_id: UUID,
    principal: CurrentPrincipal,
    scheduling: SchedulingDep,
    day: Annotated[BoundedDate, Query(alias="date")],
    kind: Annotated[AppointmentType, Query(alias="type")],
    vet_id: UUID | None = None,
) -> SlotsOut:
    return slots_out(await scheduling.slots(principal, practice_id, day, kind, vet_id))


@audited(AuditAction.APPOINTMENT_REQUEST)
@router.post(
    "/practices/{practice_id}/appointment-requests",
    status_code=status.HTTP_201_CREATED,
    response_model=AppointmentOut,
    summary="Request an appointment in a free slot (PET_OWNER, an approved client)",
    description="Creates a `requested` appointment for the caller's own active pets, lasting "
    "the type's default duration, holding the slot until staff confirm "
    "(`POST /appointments/{id}/status`: scheduled/confirmed) or decline it. `start_at` must "
    "be a free slot (`GET /practices/{id}/slots`), else 409 `slot-unavailable`; of two "
    "requests for the same slot at once one wins, the other gets 409.",
    responses=problem_responses(400, 401, 403, 404, 409, 422, 429),
)
async def request_appointment(
    practice_id: UUID,
    body: AppointmentRequestIn,
    response: Response,
    principal: CurrentPrincipal,
    scheduling: SchedulingDep,
    meta: MetaDep,
) -> AppointmentOut:
    asked = AppointmentRequest(
        pet_ids=tuple(body.pet_ids),
        appointment_type=body.appointment_type,
        start_at=body.start_at,
        vet_id=body.vet_id,
        notes=body.notes,
    )
    view = await scheduling.request(principal, practice_id, asked, meta)
    response.headers["Location"] = f"/api/v1/appointments/{view.appointment.id}"
    response.headers["ETag"] = etag(view.appointment.version)
    return appointment_out(view)


@audited(AuditAction.APPOINTMENT_CANCEL)
@router.post(
    "/appointments/{appointment_id}/cancel",
    response_model=AppointmentOut,
    summary="Cancel one's own appointment (PET_OWNER)",
    description="A request, any time before it starts; a booked (scheduled or confirmed) "
    "appointment until the practice's `cancel_cutoff_hours` before its start. Later, or "
    "from another status: 409 with `cancel_deadline`. Staff use "
    "`POST /appointments/{id}/status`.",
    responses=problem_responses(401, 403, 404, 409, 429),
)
async def cancel_appointment(
    appointment_id: UUID,
    response: Response,
    principal: CurrentPrincipal,
    scheduling: SchedulingDep,
    meta: MetaDep,
) -> AppointmentOut:
    view = await scheduling.cancel(principal, appointment_id, meta)
    response.headers["ETag"] = etag(view.appointment.version)
    return appointment_out(view)
