"""Demo data for the schedule: today's appointments for every demo vet (in the practice's
timezone) and a few visits with short generated recordings. Idempotent per day."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from vetchart.domain.appointments import (
    AppointmentStatus,
    AppointmentType,
    new_appointment,
)
from vetchart.domain.policy import ClientScope
from vetchart.domain.users import Role
from vetchart.services.demo import DEMO_PRACTICES
from vetchart.services.demo_parts import DemoVisitSeeder
from vetchart.services.demo_scheduling import DEMO_VETS
from vetchart.services.ports.clients import PetFilters
from vetchart.services.ports.paging import PageRequest
from vetchart.services.ports.schedule import AppointmentFilters

# (local start hour, minute, minutes, type, title, status)
DEMO_DAY = (
    (9, 0, 30, AppointmentType.CHECKUP, "Annual check-up", AppointmentStatus.COMPLETED),
    (9, 45, 20, AppointmentType.VACCINATION, "Booster vaccination", AppointmentStatus.CHECKED_IN),
    (10, 30, 45, AppointmentType.CONSULTATION, "Itchy ears", AppointmentStatus.CONFIRMED),
    (11, 30, 60, AppointmentType.SURGERY, "Dental scale and polish", AppointmentStatus.SCHEDULED),
    (14, 0, 30, AppointmentType.CHECKUP, "Weight check", AppointmentStatus.SCHEDULED),
    (15, 0, 30, AppointmentType.OTHER, "Nail trim", AppointmentStatus.CANCELLED),
)
DEMO_AUDIO_SECONDS = 1.0


def demo_wav(seconds: float = DEMO_AUDIO_SECONDS, rate: int = 8000) -> bytes:
    """A short, valid, silent 16-bit mono WAV file."""
    data = b"\x00\x00" * int(seconds * rate)
    fmt = struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    return (
        b"RIFF"
        + struct.pack("<I", 36 + len(data))
        + b"WAVE"
        + b"fmt "
        + fmt
        + b"data"
        + struct.pack("<I", len(data))
        + data
    )


@dataclass(kw_only=True)
class DemoSchedule(DemoVisitSeeder):
    async def seed(self) -> str:
        booked = visits = 0
        for index, (name, timezone, _) in enumerate(DEMO_PRACTICES):
            async with self.uow() as uow:
                practice = await uow.practices.get_by_name(name)
                vet = await uow.users.get_by_email(DEMO_VETS[index])
            if practice is None or vet is None or vet.role is not Role.VET:
                continue
            zone = ZoneInfo(timezone)
            today = self.clock.now().astimezone(zone).date()
            day_start = datetime.combine(today, time.min, tzinfo=zone)
            existing = await self.schedule.appointments_page(
                AppointmentFilters(
                    scope=ClientScope(everything=True),
                    practice_id=practice.id,
                    start_from=day_start,
                    start_to=day_start + timedelta(days=1),
                    vet_id=vet.id,
                ),
                PageRequest(limit=1),
            )
            if existing.items:
                continue
            pets = await self.clients.pets_page(
                ClientScope(practice_id=practice.id), PetFilters(), PageRequest(limit=len(DEMO_DAY))
            )
            for slot, view in zip(DEMO_DAY, pets.items, strict=False):
                hour, minute, minutes, kind, title, status = slot
                now = self.clock.now()
                start = datetime.combine(today, time(hour, minute), tzinfo=zone)
                appointment = new_appointment(
                    id=self.ids.new_id(),
                    practice_id=practice.id,
                    pet_owner_id=view.owner.id,
                    pet_ids=(view.pet.id,),
                    assigned_vet_id=vet.id,
                    start_at=start,
                    duration_minutes=minutes,
                    appointment_type=kind,
                    title=title,
                    notes=None,
                    status=status,
                    created_by=vet.id,
                    created_at=now,
                    updated_at=now,
                )
                async with self.uow() as uow:
                    await uow.appointments.add(appointment)
                    await uow.commit()
                booked += 1
                if status is AppointmentStatus.COMPLETED:
                    await self._visit_with_audio(
                        appointment.id, view.pet.id, practice.id, vet.id, start
                    )
                    visits += 1
        return f"schedule: {booked} appointments today, {visits} visits with recordings"

    async def _visit_with_audio(
        self, appointment_id: UUID, pet_id: UUID, practice_id: UUID, vet_id: UUID, when: datetime
    ) -> None:
        visit = await self.recorded_visit(
            demo_wav(),
            content_type="audio/wav",
            max_bytes=10 * 1024 * 1024,
            file_name="recording.wav",
            pet_id=pet_id,
            practice_id=practice_id,
            appointment_id=appointment_id,
            visit_date=when,
            transcript_text=(
                "Owner reports the dog has been scratching its left ear for a week. "
                "On examination the ear canal is red with brown discharge. "
                "Assessment: otitis externa. Plan: clean the ear and start ear drops twice "
                "daily for ten days. Recheck in two weeks."
            ),
            vet_id=vet_id,
        )
        async with self.uow() as uow:
            await uow.visits.add(visit)
            await uow.commit()
