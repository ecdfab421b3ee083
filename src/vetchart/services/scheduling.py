"""Scheduling: opening hours and booking settings, rosters, exceptions, appointment types,
free slots, and owners' appointment requests and cancellations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from vetchart.domain import scheduling as rules
from vetchart.domain.appointments import (
    OWNER_CANCELLABLE,
    AppointmentStatus,
    AppointmentType,
    local_day_bounds,
    new_appointment,
)
from vetchart.domain.audit import RequestMeta
from vetchart.domain.audit_actions import AuditAction
from vetchart.domain.errors import Conflict, Forbidden, NotFound, RuleViolation
from vetchart.domain.owners import PetOwner
from vetchart.domain.policy import (
    Action,
    ClientScope,
    PracticeLookup,
    Principal,
    client_scope,
    require,
)
from vetchart.domain.practices import Practice
from vetchart.domain.scheduling import (
    AppointmentRequest,
    AppointmentTypeSetting,
    NewException,
    RosterSpec,
    ScheduleException,
    ScheduleSettings,
    SettingsSpec,
    Slot,
    TypeSpec,
    VetDay,
    WeeklyInterval,
)
from vetchart.domain.users import Role
from vetchart.services.appointments import owner_pet_briefs
from vetchart.services.audit import record as audit
from vetchart.services.base import QueryService, practice_for
from vetchart.services.ports.schedule import AppointmentView, PetBrief, ScheduleQueries
from vetchart.services.ports.scheduling import VetBrief
from vetchart.services.ports.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class SettingsView:
    practice_id: UUID
    timezone: str
    opening_hours: tuple[WeeklyInterval, ...]
    cancel_cutoff_hours: int
    slot_step_minutes: int
    created_at: datetime | None
    updated_at: datetime | None


@dataclass(frozen=True)
class RosterView:
    vet_id: UUID
    vet_name: str
    intervals: tuple[WeeklyInterval, ...]


@dataclass(frozen=True)
class SlotsView:
    day: date
    timezone: str
    appointment_type: AppointmentTypeSetting
    vet_id: UUID | None
    slots: list[Slot]


def _not_client() -> Forbidden:
    return Forbidden(
        "Only clients of this practice (an approved association) may see its free slots "
        "or request appointments.",
        extra={"action": Action.APPOINTMENT_REQUEST.value},
    )


class SchedulingService(QueryService[ScheduleQueries]):
    # ------------------------------------------------------------------ settings

    async def settings(self, actor: Principal, practice_id: UUID) -> SettingsView:
        async with self._uow() as uow:
            practice = await practice_for(uow, actor, Action.SCHEDULE_READ, practice_id)
            return self._settings_view(practice, await uow.scheduling.settings(practice_id))

    async def put_settings(
        self, actor: Principal, practice_id: UUID, spec: SettingsSpec, meta: RequestMeta
    ) -> SettingsView:
        now = self._clock.now()
        async with self._uow() as uow:
            practice = await practice_for(uow, actor, Action.SCHEDULE_MANAGE, practice_id)
            current = await uow.scheduling.settings(practice_id)
            settings = ScheduleSettings(
                practice_id=practice_id,
                opening_hours=spec.opening_hours,
                cancel_cutoff_hours=spec.cancel_cutoff_hours,
                slot_step_minutes=spec.slot_step_minutes,
                created_at=current.created_at if current else now,
                updated_at=now,
            )
            await uow.scheduling.save_settings(settings)
            audit(
                uow,
                meta,
                actor,
                AuditAction.SCHEDULE_SETTINGS_UPDATE,
                practice_id,
                practice_id,
                {
                    "opening_intervals": len(spec.opening_hours),
                    "cancel_cutoff_hours": spec.cancel_cutoff_hours,
                    "slot_step_minutes": spec.slot_step_minutes,
                },
            )
            await uow.commit()
        return self._settings_view(practice, settings)

    @staticmethod
    def _settings_view(practice: Practice, settings: ScheduleSettings | None) -> SettingsView:
        if settings is None:
            return SettingsView(
                practice.id,
                practice.timezone,
                (),
                rules.DEFAULT_CANCEL_CUTOFF_HOURS,
                rules.DEFAULT_SLOT_STEP_MINUTES,
                None,
                None,
            )
        return SettingsView(
            practice.id,
            practice.timezone,
            settings.opening_hours,
            settings.cancel_cutoff_hours,
            settings.slot_step_minutes,
            settings.created_at,
            settings.updated_at,
        )

    # ------------------------------------------------------------------ rosters

    async def rosters(self, actor: Principal, practice_id: UUID) -> list[RosterView]:
        """Every active vet of the practice with their weekly roster (empty: none yet)."""
        async with self._uow() as uow:
            await practice_for(uow, actor, Action.SCHEDULE_READ, practice_id)
            vets = await uow.scheduling.vets(practice_id)
            rosters = await uow.scheduling.rosters(practice_id)
        return [RosterView(v.id, v.full_name, rosters.get(v.id, ())) for v in vets]

    async def put_roster(
        self,
        actor: Principal,
        practice_id: UUID,
        vet_id: UUID,
        spec: RosterSpec,
        meta: RequestMeta,
    ) -> RosterView:
        async with self._uow() as uow:
            await practice_for(uow, actor, Action.SCHEDULE_MANAGE, practice_id)
            vet = await self._vet(uow, practice_id, vet_id, missing=NotFound("Vet not found."))
            await uow.scheduling.replace_roster(practice_id, vet_id, spec.intervals)
            audit(
                uow,
                meta,
                actor,
                AuditAction.ROSTER_UPDATE,
                practice_id,
                practice_id,
                {"vet_id": str(vet_id), "intervals": len(spec.intervals)},
            )
            await uow.commit()
        return RosterView(vet.id, vet.full_name, spec.intervals)

    # ------------------------------------------------------------------ exceptions

    async def exceptions(
        self,
        actor: Principal,
        practice_id: UUID,
        first: date,
        last: date,
        vet_id: UUID | None,
    ) -> list[ScheduleException]:
        rules.check_range(first, last)
        async with self._uow() as uow:
            await practice_for(uow, actor, Action.SCHEDULE_READ, practice_id)
            found = await uow.scheduling.exceptions(practice_id, first, last, vet_id)
        return found

    async def add_exception(
        self, actor: Principal, practice_id: UUID, new: NewException, meta: RequestMeta
    ) -> ScheduleException:
        now = self._clock.now()
        async with self._uow() as uow:
            await practice_for(uow, actor, Action.SCHEDULE_MANAGE, practice_id)
            if new.vet_id is not None:
                await self._vet(uow, practice_id, new.vet_id)
            exception = new.exception(
                id=self._ids.new_id(), practice_id=practice_id, created_by=actor.user_id, now=now
            )
            await uow.scheduling.add_exception(exception)
            audit(
                uow,
                meta,
                actor,
                AuditAction.SCHEDULE_EXCEPTION_CREATE,
                exception.id,
                practice_id,
                {
                    "day": new.day.isoformat(),
                    "vet_id": str(new.vet_id) if new.vet_id else None,
                    "closed": new.start_time is None,
                },
            )
            await uow.commit()
        return exception

    async def remove_exception(
        self, actor: Principal, practice_id: UUID, exception_id: UUID, meta: RequestMeta
    ) -> None:
        async with self._uow() as uow:
            await practice_for(uow, actor, Action.SCHEDULE_MANAGE, practice_id)
            if not await uow.scheduling.remove_exception(practice_id, exception_id):
                raise NotFound("Schedule exception not found.")
            audit(
                uow,
                meta,
                actor,
                AuditAction.SCHEDULE_EXCEPTION_DELETE,
                exception_id,
                practice_id,
            )
            await uow.commit()

    # ------------------------------------------------------------------ types

    async def types(self, actor: Principal, practice_id: UUID) -> list[AppointmentTypeSetting]:
        """Any signed-in user who may see the practice: owners choose what to request."""
        async with self._uow() as uow:
            practice = await uow.practices.get(practice_id)
            require(actor, Action.PRACTICE_READ, PracticeLookup(practice, members_only=False))
            return await uow.scheduling.types(practice_id)

    async def put_type(
        self,
        actor: Principal,
        practice_id: UUID,
        kind: AppointmentType,
        spec: TypeSpec,
        meta: RequestMeta,
    ) -> AppointmentTypeSetting:
        now = self._clock.now()
        async with self._uow() as uow:
            await practice_for(uow, actor, Action.SCHEDULE_MANAGE, practice_id)
            stored = await uow.scheduling.save_type(
                spec.setting(
                    id=self._ids.new_id(), practice_id=practice_id, appointment_type=kind, now=now
                )
            )
            audit(
                uow,
                meta,
                actor,
                AuditAction.APPOINTMENT_TYPE_UPDATE,
                practice_id,
                practice_id,
                {
                    "appointment_type": kind.value,
                    "duration_minutes": spec.duration_minutes,
                    "owner_bookable": spec.owner_bookable,
                },
            )
            await uow.commit()
        return stored

    async def remove_type(
        self, actor: Principal, practice_id: UUID, kind: AppointmentType, meta: RequestMeta
    ) -> None:
        async with self._uow() as uow:
            await practice_for(uow, actor, Action.SCHEDULE_MANAGE, practice_id)
            if not await uow.scheduling.remove_type(practice_id, kind):
                raise NotFound("Appointment type not found.")
            audit(
                uow,
                meta,
                actor,
                AuditAction.APPOINTMENT_TYPE_DELETE,
                practice_id,
                practice_id,
                {"appointment_type": kind.value},
            )
            await uow.commit()

    # ------------------------------------------------------------------ slots

    async def slots(
        self,
        actor: Principal,
        practice_id: UUID,
        day: date,
        kind: AppointmentType,
        vet_id: UUID | None,
    ) -> SlotsView:
        """The day's free slots for the type (its default duration), of one vet or of
        every vet: the practice's staff, SYSTEM_ADMIN, and its approved clients."""
        async with self._uow() as uow:
            practice = await uow.practices.get(practice_id)
            require(actor, Action.SLOTS_READ, PracticeLookup(practice, members_only=False))
            assert practice is not None
            owner = await self._client_or_member(uow, actor, practice_id)
            setting = await self._type(uow, practice_id, kind, for_owner=owner is not None)
            if vet_id is not None:
                await self._vet(uow, practice_id, vet_id)
            found = await self._free(uow, practice, day, setting.duration_minutes, vet_id)
        return SlotsView(day, practice.timezone, setting, vet_id, found)

    async def _free(
        self,
        uow: UnitOfWork,
        practice: Practice,
        day: date,
        duration_minutes: int,
        vet_id: UUID | None,
    ) -> list[Slot]:
        """Six statements, whatever the practice's size: settings (two), vets, rosters,
        exceptions, busy ranges."""
        settings = await uow.scheduling.settings(practice.id)
        if settings is None:
            return []
        vets = await uow.scheduling.vets(practice.id, vet_id)
        rosters = await uow.scheduling.rosters(practice.id, vet_id)
        exceptions = await uow.scheduling.exceptions(practice.id, day, day, vet_id)
        closure = next((e for e in exceptions if e.vet_id is None), None)
        by_vet = {e.vet_id: e for e in exceptions if e.vet_id is not None}
        opening = rules.day_intervals(day, settings.opening_hours, closure)
        if not opening:
            return []
        days = [
            VetDay(
                v.id, v.full_name, rules.day_intervals(day, rosters.get(v.id, ()), by_vet.get(v.id))
            )
            for v in vets
        ]
        day_start, day_end = local_day_bounds(day, practice.timezone)
        busy = await uow.scheduling.busy([v.id for v in vets], day_start, day_end)
        return rules.free_slots(
            day=day,
            timezone=practice.timezone,
            opening=opening,
            vets=days,
            busy=busy,
            duration_minutes=duration_minutes,
            step_minutes=settings.slot_step_minutes,
            not_before=self._clock.now(),
        )

    # ------------------------------------------------------------------ owners

    async def request(
        self,
        actor: Principal,
        practice_id: UUID,
        asked: AppointmentRequest,
        meta: RequestMeta,
    ) -> AppointmentView:
        """An owner asks for a free slot: a ``requested`` appointment holding it (staff
        confirm or decline). 409 unless the slot is free; of two owners asking for the
        same slot at once, the database lets one win."""
        now = self._clock.now()
        async with self._uow() as uow:
            practice = await uow.practices.get(practice_id)
            require(actor, Action.APPOINTMENT_REQUEST, PracticeLookup(practice, members_only=False))
            assert practice is not None
            owner = await self._client_or_member(uow, actor, practice_id)
            assert owner is not None  # only owners may request
            setting = await self._type(uow, practice_id, asked.appointment_type, for_owner=True)
            pets = await self._pets(uow, owner.id, asked.pet_ids)
            day = asked.start_at.astimezone(ZoneInfo(practice.timezone)).date()
            if asked.vet_id is not None:
                await self._vet(uow, practice_id, asked.vet_id)
            free = await self._free(uow, practice, day, setting.duration_minutes, asked.vet_id)
            candidates = [s for s in free if s.start_at == asked.start_at]
            if not candidates:
                raise Conflict(
                    "That time is not a free slot for this appointment type"
                    + (" and vet" if asked.vet_id else "")
                    + ": ask GET /practices/{practice_id}/slots for the free ones.",
                    code="slot-unavailable",
                )
            appointment = None
            for slot in candidates:  # the first vet free then; the next if one was taken
                candidate = new_appointment(
                    id=self._ids.new_id(),
                    practice_id=practice_id,
                    pet_owner_id=owner.id,
                    pet_ids=tuple(sorted(p.id for p in pets)),
                    assigned_vet_id=slot.vet_id,
                    start_at=asked.start_at,
                    duration_minutes=setting.duration_minutes,
                    appointment_type=setting.appointment_type,
                    title=f"{setting.name} (requested online)",
                    notes=asked.notes,
                    status=AppointmentStatus.REQUESTED,
                    created_by=actor.user_id,
                    created_at=now,
                    updated_at=now,
                )
                try:
                    await uow.appointments.add(candidate)
                except Conflict:
                    if slot is candidates[-1]:
                        raise
                    continue
                appointment = candidate
                break
            assert appointment is not None
            audit(
                uow,
                meta,
                actor,
                AuditAction.APPOINTMENT_REQUEST,
                appointment.id,
                practice_id,
                {
                    "start_at": appointment.start_at.isoformat(),
                    "status": AppointmentStatus.REQUESTED.value,
                    "assigned_vet_id": str(appointment.assigned_vet_id),
                },
            )
            await uow.commit()
        return AppointmentView(appointment, pets, owner.full_name)

    async def cancel(
        self, actor: Principal, appointment_id: UUID, meta: RequestMeta
    ) -> AppointmentView:
        """An owner cancels their own appointment: a request at any time before it
        starts, a booked one until the practice's ``cancel_cutoff_hours`` before."""
        now = self._clock.now()
        async with self._uow() as uow:
            appointment = await uow.appointments.get(
                appointment_id, client_scope(actor), for_update=True
            )
            if appointment is None:
                raise NotFound("Appointment not found.")
            require(actor, Action.APPOINTMENT_CANCEL_OWN)
            if appointment.status not in OWNER_CANCELLABLE:
                raise Conflict(
                    f"A {appointment.status.value} appointment cannot be cancelled online.",
                    code="appointment-status",
                    extra={"from": appointment.status.value, "to": "cancelled"},
                )
            settings = await uow.scheduling.settings(appointment.practice_id)
            cutoff = settings.cancel_cutoff_hours if settings else rules.DEFAULT_CANCEL_CUTOFF_HOURS
            requested = appointment.status is AppointmentStatus.REQUESTED
            deadline = (
                appointment.start_at
                if requested
                else rules.cancel_deadline(appointment.start_at, cutoff)
            )
            if now > deadline:
                practice = await uow.practices.get(appointment.practice_id)
                zone = ZoneInfo(practice.timezone if practice else "UTC")
                raise Conflict(
                    (
                        "This request's time has passed."
                        if requested
                        else f"Appointments can be cancelled online until {cutoff} hours "
                        f"before they start (this one: until "
                        f"{deadline.astimezone(zone).isoformat()}). Please call the practice."
                    ),
                    code="cancel-cutoff",
                    extra={
                        "cancel_cutoff_hours": cutoff,
                        "cancel_deadline": deadline.isoformat(),
                    },
                )
            before = appointment.status
            appointment.move_to(AppointmentStatus.CANCELLED, now)
            await uow.appointments.save(appointment)
            audit(
                uow,
                meta,
                actor,
                AuditAction.APPOINTMENT_CANCEL,
                appointment.id,
                appointment.practice_id,
                {"from": before.value, "to": "cancelled", "version": appointment.version},
            )
            await uow.commit()
        view = await self._queries.appointment_view(appointment_id)
        assert view is not None
        return view

    # ------------------------------------------------------------------ helpers

    @staticmethod
    async def _client_or_member(
        uow: UnitOfWork, actor: Principal, practice_id: UUID
    ) -> PetOwner | None:
        """The owner profile of a PET_OWNER who is an approved client of the practice
        (403 otherwise); None for the practice's staff and SYSTEM_ADMIN (403 for other
        practices' staff)."""
        if actor.role is Role.PET_OWNER:
            mine = await uow.pet_owners.get_by_user(actor.user_id)
            if mine is None:
                raise _not_client()
            client = await uow.pet_owners.get(mine.id, ClientScope(practice_id=practice_id))
            if client is None:
                raise _not_client()
            return client
        if actor.role is not Role.SYSTEM_ADMIN and actor.practice_id != practice_id:
            raise Forbidden(
                "Only this practice's staff may do this.",
                extra={"action": Action.SLOTS_READ.value},
            )
        return None

    @staticmethod
    async def _type(
        uow: UnitOfWork, practice_id: UUID, kind: AppointmentType, *, for_owner: bool
    ) -> AppointmentTypeSetting:
        setting = await uow.scheduling.type_of(practice_id, kind)
        if setting is None or (for_owner and not setting.owner_bookable):
            raise RuleViolation(
                f"This practice offers no {kind.value} appointments"
                + (" to book online." if setting is not None else "."),
                rule="appointment_type.unavailable",
                field="appointment_type",
            )
        return setting

    @staticmethod
    async def _vet(
        uow: UnitOfWork, practice_id: UUID, vet_id: UUID, *, missing: Exception | None = None
    ) -> VetBrief:
        found = await uow.scheduling.vets(practice_id, vet_id)
        if not found:
            raise missing or RuleViolation(
                "vet_id must be an active VET of this practice.",
                rule="schedule.vet",
                field="vet_id",
            )
        return found[0]

    @staticmethod
    async def _pets(uow: UnitOfWork, owner_id: UUID, pet_ids: Sequence[UUID]) -> list[PetBrief]:
        unique = tuple(dict.fromkeys(pet_ids))
        if not unique or len(unique) > 10:
            raise RuleViolation(
                "An appointment has 1 to 10 pets.", rule="appointment.pets", field="pet_ids"
            )
        return await owner_pet_briefs(
            uow, owner_id, unique, "Every pet must be one of your active pets."
        )
