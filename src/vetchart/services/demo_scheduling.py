"""Demo data for scheduling: each demo practice's opening hours and booking settings, its
vet's weekly roster, appointment types with default durations, a closure and a vet's day
off, and one appointment the demo owner requested next week. Idempotent: a practice that
has settings already is left as it is."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from vetchart.domain.appointments import AppointmentStatus, AppointmentType, new_appointment
from vetchart.domain.errors import Conflict
from vetchart.domain.policy import ClientScope
from vetchart.domain.scheduling import (
    NewException,
    ScheduleSettings,
    TypeSpec,
    WeeklyInterval,
)
from vetchart.domain.users import Role
from vetchart.services.demo import DEMO_PRACTICES
from vetchart.services.demo_parts import DemoSeeder
from vetchart.services.ports.clients import PetFilters
from vetchart.services.ports.paging import PageRequest

DEMO_VETS = ("vet@riverside.vetchart.local", "vet@hillcrest.vetchart.local")
DEMO_OWNER = "owner@vetchart.local"
WEEKDAYS = range(1, 6)
# Opening hours: weekdays 08:00-18:00, Saturday morning.
OPENING = (
    *(WeeklyInterval(d, time(8), time(18)) for d in WEEKDAYS),
    WeeklyInterval(6, time(9), time(13)),
)
# The vet: weekdays with a lunch break, and Saturday morning.
ROSTER = (
    *(WeeklyInterval(d, time(8), time(12, 30)) for d in WEEKDAYS),
    *(WeeklyInterval(d, time(13, 30), time(18)) for d in WEEKDAYS),
    WeeklyInterval(6, time(9), time(13)),
)
# Each type's name, default duration, and whether owners may request it online.
TYPES = (
    (AppointmentType.CHECKUP, TypeSpec(name="Check-up", duration_minutes=30)),
    (AppointmentType.VACCINATION, TypeSpec(name="Vaccination", duration_minutes=20)),
    (AppointmentType.CONSULTATION, TypeSpec(name="Consultation", duration_minutes=30)),
    (
        AppointmentType.EMERGENCY,
        TypeSpec(name="Emergency", duration_minutes=45, owner_bookable=False),
    ),
    (AppointmentType.SURGERY, TypeSpec(name="Surgery", duration_minutes=90, owner_bookable=False)),
    (AppointmentType.OTHER, TypeSpec(name="Nail trim and other", duration_minutes=15)),
)


def _next(day: date, weekday: int) -> date:
    """The first ``weekday`` (ISO) strictly after ``day``."""
    return day + timedelta(days=(weekday - day.isoweekday() - 1) % 7 + 1)


class DemoScheduling(DemoSeeder):
    async def seed(self) -> str:
        seeded = requested = 0
        for (name, timezone, _), vet_email in zip(DEMO_PRACTICES, DEMO_VETS, strict=True):
            now = self.clock.now()
            today = now.astimezone(ZoneInfo(timezone)).date()
            async with self.uow() as uow:
                practice = await uow.practices.get_by_name(name)
                vet = await uow.users.get_by_email(vet_email)
                if practice is None or vet is None or vet.role is not Role.VET:
                    continue
                if await uow.scheduling.settings(practice.id) is not None:
                    continue
                await uow.scheduling.save_settings(
                    ScheduleSettings(
                        practice_id=practice.id,
                        opening_hours=OPENING,
                        cancel_cutoff_hours=24,
                        slot_step_minutes=15,
                        created_at=now,
                        updated_at=now,
                    )
                )
                await uow.scheduling.replace_roster(practice.id, vet.id, ROSTER)
                for kind, spec in TYPES:
                    await uow.scheduling.save_type(
                        spec.setting(
                            id=self.ids.new_id(),
                            practice_id=practice.id,
                            appointment_type=kind,
                            now=now,
                        )
                    )
                for closed in (
                    NewException(day=_next(today, 6) + timedelta(days=14), reason="Staff training"),
                    NewException(day=_next(today, 5), vet_id=vet.id, reason="Conference"),
                ):
                    await uow.scheduling.add_exception(
                        closed.exception(
                            id=self.ids.new_id(),
                            practice_id=practice.id,
                            created_by=vet.id,
                            now=now,
                        )
                    )
                await uow.commit()
            seeded += 1
            requested += await self._owner_request(practice.id, vet.id, timezone, today)
        return f"scheduling: {seeded} practices with hours, rosters and types, {requested} requests"

    async def _owner_request(
        self, practice_id: object, vet_id: object, timezone: str, today: date
    ) -> int:
        """The demo owner's request for next Tuesday 10:00 (local), awaiting the staff."""
        async with self.uow() as uow:
            owner_user = await uow.users.get_by_email(DEMO_OWNER)
            owner = await uow.pet_owners.get_by_user(owner_user.id) if owner_user else None
        if owner_user is None or owner is None:
            return 0
        pets = await self.clients.pets_page(
            ClientScope(owner_user_id=owner_user.id), PetFilters(), PageRequest(limit=1)
        )
        if not pets.items:
            return 0
        now = self.clock.now()
        start = datetime.combine(_next(today, 2), time(10), tzinfo=ZoneInfo(timezone))
        appointment = new_appointment(
            id=self.ids.new_id(),
            practice_id=practice_id,
            pet_owner_id=owner.id,
            pet_ids=(pets.items[0].pet.id,),
            assigned_vet_id=vet_id,
            start_at=start,
            duration_minutes=30,
            appointment_type=AppointmentType.CHECKUP,
            title="Check-up (requested online)",
            notes="Seems a little stiff in the mornings.",
            status=AppointmentStatus.REQUESTED,
            created_by=owner_user.id,
            created_at=now,
            updated_at=now,
        )
        try:
            async with self.uow() as uow:
                await uow.appointments.add(appointment)
                await uow.commit()
        except Conflict:  # that hour is taken already
            return 0
        return 1
