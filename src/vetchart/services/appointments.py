"""Appointments (booking, rescheduling, status) and the daily dashboard."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from uuid import UUID

from vetchart.domain import appointments as rules
from vetchart.domain.appointments import (
    Appointment,
    AppointmentChanges,
    AppointmentStatus,
    NewAppointment,
    new_appointment,
)
from vetchart.domain.audit import AuditEntry, RequestMeta
from vetchart.domain.audit_actions import AuditAction
from vetchart.domain.commands import given
from vetchart.domain.errors import NotFound, RuleViolation
from vetchart.domain.policy import (
    Action,
    ClientScope,
    PracticeBusiness,
    PracticeLookup,
    Principal,
    client_scope,
    may_be_assigned,
    require,
)
from vetchart.services.audit import page_entry_for, read_entry, seen_page
from vetchart.services.audit import record as audit
from vetchart.services.base import SubjectService, found
from vetchart.services.pets import require_version
from vetchart.services.ports.paging import Page, PageRequest, ReadAudit, Row
from vetchart.services.ports.schedule import (
    AppointmentFilters,
    AppointmentView,
    DashboardCache,
    DashboardQuery,
    DashboardView,
    PetBrief,
    ScheduleQueries,
    ScheduleReads,
)
from vetchart.services.ports.system import Clock
from vetchart.services.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory

# The dashboard shows at most this many of each list.
DASHBOARD_LIMIT = 200


def appointment_scope(actor: Principal) -> ClientScope:
    """Staff: their practice's appointments; owners: their own; admins: all."""
    return client_scope(actor)


class AppointmentService(SubjectService[ScheduleQueries, ScheduleReads]):
    """Appointments: booking and its changes, lists and audited reads."""

    # ------------------------------------------------------------------ writes

    async def create(
        self, actor: Principal, practice_id: UUID, new: NewAppointment, meta: RequestMeta
    ) -> AppointmentView:
        now = self._clock.now()
        async with self._uow() as uow:
            practice = await uow.practices.get(practice_id)
            require(actor, Action.APPOINTMENT_CREATE, PracticeLookup(practice))
            checked = given(new)
            owner_id = checked.pop("pet_owner_id")
            await self._check_vet(uow, practice_id, new.assigned_vet_id)
            owner = await uow.pet_owners.get(owner_id, ClientScope(practice_id=practice_id))
            if owner is None:
                raise RuleViolation(
                    "The owner is not a client of this practice.",
                    rule="appointment.owner_not_client",
                    field="pet_owner_id",
                )
            owner.require_active()
            pets = await owner_pet_briefs(uow, owner_id, new.pet_ids, OWNER_PETS_ONLY)
            appointment = new_appointment(
                id=self._ids.new_id(),
                practice_id=practice_id,
                pet_owner_id=owner_id,
                status=AppointmentStatus.SCHEDULED,
                created_by=actor.user_id,
                created_at=now,
                updated_at=now,
                **checked,
            )
            await uow.appointments.add(appointment)
            audit(
                uow,
                meta,
                actor,
                AuditAction.APPOINTMENT_CREATE,
                appointment.id,
                practice_id,
                {"start_at": appointment.start_at.isoformat(), "status": "scheduled"},
            )
            await uow.commit()
        return AppointmentView(appointment, pets, owner.full_name)

    async def update(
        self,
        actor: Principal,
        appointment_id: UUID,
        changes: AppointmentChanges,
        if_match: int | None,
        meta: RequestMeta,
    ) -> AppointmentView:
        async with self._uow() as uow:
            appointment = await self._for_change(uow, actor, appointment_id)
            require_version(if_match, appointment.version, "appointment")
            checked = given(changes)
            if "assigned_vet_id" in checked:
                await self._check_vet(uow, appointment.practice_id, checked["assigned_vet_id"])
            if "pet_ids" in checked:
                await owner_pet_briefs(
                    uow, appointment.pet_owner_id, checked["pet_ids"], OWNER_PETS_ONLY
                )
            pets_before = appointment.pet_ids
            changed = appointment.edit(checked, self._clock.now())
            if changed:
                await uow.appointments.save(
                    appointment, pets_changed=appointment.pet_ids != pets_before
                )
                audit(
                    uow,
                    meta,
                    actor,
                    AuditAction.APPOINTMENT_UPDATE,
                    appointment.id,
                    appointment.practice_id,
                    {"fields": sorted(changed), "version": appointment.version},
                )
                await uow.commit()
        return await self._view(appointment_id)

    async def set_status(
        self, actor: Principal, appointment_id: UUID, status: AppointmentStatus, meta: RequestMeta
    ) -> AppointmentView:
        async with self._uow() as uow:
            appointment = await self._for_change(uow, actor, appointment_id)
            before = appointment.status
            appointment.move_to(status, self._clock.now())
            await uow.appointments.save(appointment)
            audit(
                uow,
                meta,
                actor,
                AuditAction.APPOINTMENT_STATUS_CHANGE,
                appointment.id,
                appointment.practice_id,
                {"from": before.value, "to": status.value, "version": appointment.version},
            )
            await uow.commit()
        return await self._view(appointment_id)

    # ------------------------------------------------------------------ reads

    async def get(self, actor: Principal, appointment_id: UUID, meta: RequestMeta) -> Row:
        """The appointment in scope (404 otherwise), its ``appointment.read`` audit row
        committed first (one audited read on the fast path)."""
        require(actor, Action.APPOINTMENT_READ)

        def entry_for(row: Row) -> AuditEntry:
            pets = list(row["pet_ids"] or ())
            return read_entry(
                actor,
                AuditAction.APPOINTMENT_READ,
                row["id"],
                {"pet_owner_id": str(row["pet_owner_id"]), "pet_ids": [str(p) for p in pets]},
                data_practice_id=row["practice_id"],
                pet_id=pets[0] if len(pets) == 1 else None,
            )

        return found(
            await self._reads.appointment(
                appointment_scope(actor), appointment_id, ReadAudit(entry_for, meta)
            ),
            "Appointment",
        )

    async def for_practice(
        self,
        actor: Principal,
        practice_id: UUID,
        *,
        day: date | None,
        start_from: datetime | None,
        start_to: datetime | None,
        vet_id: UUID | None,
        status: AppointmentStatus | None,
        page: PageRequest,
        meta: RequestMeta,
    ) -> Page[Row]:
        """A page of the practice's appointments; its ``appointment.list`` audit row (the
        filters, the appointments shown) committed first, an empty page's too."""
        practice = await self._reads.practice(practice_id)
        require(actor, Action.APPOINTMENT_READ, PracticeLookup(practice))
        assert practice is not None  # require: 404 for a missing practice
        asked = {  # the filters as asked (for the audit row)
            name: value.isoformat() if isinstance(value, date) else str(value)
            for name, value in (
                ("date", day),
                ("from", start_from),
                ("to", start_to),
                ("vet_id", vet_id),
                ("status", status.value if status else None),
            )
            if value is not None
        }
        if day is not None:
            day_start, day_end = rules.local_day_bounds(day, practice.timezone)
            start_from = max(start_from or day_start, day_start)
            start_to = min(start_to or day_end, day_end)
        filters = AppointmentFilters(
            scope=ClientScope(everything=True),
            practice_id=practice_id,
            start_from=start_from,
            start_to=start_to,
            vet_id=vet_id,
            status=status,
        )

        def entry_for(row: Row) -> AuditEntry:
            return read_entry(
                actor,
                AuditAction.PRACTICE_APPOINTMENT_LIST,
                practice_id,
                {**asked, **seen_page(row)},
                data_practice_id=practice_id,
            )

        return await self._reads.appointments_page(filters, page, ReadAudit(entry_for, meta))

    async def for_owner(
        self, actor: Principal, owner_id: UUID, page: PageRequest, meta: RequestMeta
    ) -> Page[Row]:
        """A page of the owner's appointments (404 when the owner is out of the client
        scope); its ``appointment.list`` audit row, naming the owner and the appointments
        shown, committed first, an empty page's too."""
        require(actor, Action.APPOINTMENT_READ)

        entry_for = page_entry_for(actor, AuditAction.OWNER_APPOINTMENT_LIST, owner_id)
        return found(
            await self._reads.owner_appointments(
                appointment_scope(actor), owner_id, page, ReadAudit(entry_for, meta)
            ),
            "Pet owner",
        )

    # ------------------------------------------------------------------ helpers

    async def _view(self, appointment_id: UUID) -> AppointmentView:
        view = await self._queries.appointment_view(appointment_id)
        if view is None:  # pragma: no cover - it was just read in scope
            raise NotFound("Appointment not found.")
        return view

    async def _for_change(
        self, uow: UnitOfWork, actor: Principal, appointment_id: UUID
    ) -> Appointment:
        require(actor, Action.APPOINTMENT_READ)
        appointment = await uow.appointments.get(
            appointment_id, appointment_scope(actor), for_update=True
        )
        if appointment is None:
            raise NotFound("Appointment not found.")
        require(actor, Action.APPOINTMENT_UPDATE, PracticeBusiness(appointment.practice_id))
        return appointment

    @staticmethod
    async def _check_vet(uow: UnitOfWork, practice_id: UUID, vet_id: UUID) -> None:
        vet = await uow.users.get(vet_id)
        if vet is None or not may_be_assigned(vet, practice_id):
            raise RuleViolation(
                "The assigned vet must be an active VET of this practice.",
                rule="appointment.vet",
                field="assigned_vet_id",
            )


class DashboardService:
    """Today (in the practice's timezone): appointments, follow-ups due, visits awaiting
    review. Rendered answers are cached briefly per practice; any change to the practice's
    appointments, visits or records invalidates them."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        queries: ScheduleQueries,
        reads: ScheduleReads,
        clock: Clock,
        cache: DashboardCache,
    ) -> None:
        self._uow = uow
        self._queries = queries
        self._reads = reads
        self._clock = clock
        self._cache = cache

    async def today(
        self,
        actor: Principal,
        vet_id: UUID | None,
        meta: RequestMeta,
        render: Callable[[DashboardView], Awaitable[bytes]],
    ) -> bytes:
        require(actor, Action.DASHBOARD_READ)
        practice_id = actor.practice_id
        assert practice_id is not None  # staff have a practice
        entry = read_entry(
            actor,
            AuditAction.DASHBOARD_READ,
            practice_id,
            {"vet_id": str(vet_id)} if vet_id else {},
            data_practice_id=practice_id,
        )
        practice = await self._reads.practice_audited(practice_id, entry, meta)
        if practice is None:
            raise NotFound("Practice not found.")
        today = rules.local_today(self._clock.now(), practice.timezone)
        key = f"{today.isoformat()}:{vet_id or 'all'}"
        generation = await self._cache.generation(practice_id)
        cached = await self._cache.get(practice_id, generation, key)
        if cached is not None:
            return cached
        day_start, day_end = rules.local_day_bounds(today, practice.timezone)
        view = await self._queries.dashboard(
            DashboardQuery(
                practice_id=practice_id,
                day_start=day_start,
                day_end=day_end,
                today=today,
                vet_id=vet_id,
                limit=DASHBOARD_LIMIT,
            )
        )
        body = await render(
            DashboardView(
                appointments=view.appointments,
                follow_ups=view.follow_ups,
                visits_awaiting_review=view.visits_awaiting_review,
                day=today,
                timezone=practice.timezone,
            )
        )
        await self._cache.put(practice_id, generation, key, body)
        return body


OWNER_PETS_ONLY = "Every pet must be an active pet of the appointment's owner."


async def owner_pet_briefs(
    uow: UnitOfWork, owner_id: UUID, pet_ids: tuple[UUID, ...], not_theirs: str
) -> list[PetBrief]:
    """The pets, by name, when every one is an active pet of the owner; else RuleViolation
    ``appointment.pets_of_owner`` saying ``not_theirs``."""
    mine = await uow.appointments.owner_pets(owner_id, pet_ids)
    if mine != set(pet_ids):
        raise RuleViolation(not_theirs, rule="appointment.pets_of_owner", field="pet_ids")
    briefs = []
    for pet_id in pet_ids:
        pet = await uow.pets.get(pet_id, ClientScope(everything=True))
        assert pet is not None
        briefs.append(PetBrief(pet.id, pet.name, pet.species))
    return sorted(briefs, key=lambda p: (p.name, str(p.id)))
