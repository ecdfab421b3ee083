"""Demo data of speech to text: one visit of the first Riverside pet with a dictated
recording and no transcript, queued for transcription as an upload would be. The worker
(embedded in ``make run``) transcribes it with the configured transcriber (``make run``
uses the local one) and drafts its summary; without a transcriber the visit shows
``not_configured``. Idempotent: a pet with the demo recording gets no second one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from vetchart.demo_audio import DICTATION, demo_dictation
from vetchart.domain.policy import ClientScope
from vetchart.domain.transcription import audio_attached
from vetchart.services.demo import DEMO_PRACTICES
from vetchart.services.demo_parts import DemoVisitSeeder
from vetchart.services.ports.clients import PetFilters
from vetchart.services.ports.paging import PageRequest

# Enough of a pet's visits to find the demo's among them.
VISITS_LOOKED_AT = 50


@dataclass(kw_only=True)
class DemoTranscription(DemoVisitSeeder):
    configured: bool

    async def seed(self) -> str:
        name = DEMO_PRACTICES[0][0]
        async with self.uow() as uow:
            practice = await uow.practices.get_by_name(name)
            vet = await uow.users.get_by_email("vet@riverside.vetchart.local")
        if practice is None or vet is None:
            return "transcription: no demo practice"
        pets = await self.clients.pets_page(
            ClientScope(practice_id=practice.id), PetFilters(), PageRequest(limit=1)
        )
        if not pets.items:
            return "transcription: no demo pet"
        pet_id = pets.items[0].pet.id
        visits = await self.schedule.visits_page(pet_id, PageRequest(limit=VISITS_LOOKED_AT))
        if any(v.audio is not None and v.audio.file_name == DICTATION for v in visits.items):
            return "transcription: demo dictation already there"
        audio = demo_dictation()
        visit = await self.recorded_visit(
            audio,
            content_type="audio/ogg",
            max_bytes=len(audio),
            file_name=DICTATION,
            pet_id=pet_id,
            practice_id=practice.id,
            appointment_id=None,
            visit_date=self.clock.now() - timedelta(hours=1),
            transcript_text=None,
            vet_id=vet.id,
        )
        wanted = audio_attached(visit, configured=self.configured)
        async with self.uow() as uow:
            await uow.visits.add(visit)
            if wanted is not None:
                uow.record(wanted)
            await uow.commit()
        return f"transcription: a dictated visit ({visit.transcription_status.value})"
