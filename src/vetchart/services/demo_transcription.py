"""Demo data of speech to text: one visit of the first Riverside pet with a dictated
recording and no transcript, queued for transcription as an upload would be. The worker
(embedded in ``make run``) transcribes it with the configured transcriber (``make run``
uses the local one) and drafts its summary; without a transcriber the visit shows
``not_configured``. Idempotent: a pet with the demo recording gets no second one."""

from __future__ import annotations

from datetime import timedelta

from vetchart.demo_audio import DICTATION, demo_dictation
from vetchart.domain.appointments import StoredFile, Visit, VisitState
from vetchart.domain.policy import ClientScope
from vetchart.domain.transcription import audio_attached
from vetchart.domain.uploads import ObjectKey, UploadKind
from vetchart.services.demo import DEMO_PRACTICES
from vetchart.services.demo_schedule import one_chunk
from vetchart.services.ports.clients import ClientQueries, PetFilters
from vetchart.services.ports.paging import PageRequest
from vetchart.services.ports.schedule import ScheduleQueries
from vetchart.services.ports.storage import HeadInspectorFactory, ObjectStorage
from vetchart.services.ports.system import Clock, IdGenerator
from vetchart.services.ports.unit_of_work import UnitOfWorkFactory

# Enough of a pet's visits to find the demo's among them.
VISITS_LOOKED_AT = 50


class DemoTranscription:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        clients: ClientQueries,
        schedule: ScheduleQueries,
        storage: ObjectStorage,
        inspectors: HeadInspectorFactory,
        configured: bool,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._clients = clients
        self._schedule = schedule
        self._storage = storage
        self._inspectors = inspectors
        self._configured = configured

    async def seed(self) -> str:
        name = DEMO_PRACTICES[0][0]
        async with self._uow() as uow:
            practice = await uow.practices.get_by_name(name)
            vet = await uow.users.get_by_email("vet@riverside.vetchart.local")
        if practice is None or vet is None:
            return "transcription: no demo practice"
        pets = await self._clients.pets_page(
            ClientScope(practice_id=practice.id), PetFilters(), PageRequest(limit=1)
        )
        if not pets.items:
            return "transcription: no demo pet"
        pet_id = pets.items[0].pet.id
        visits = await self._schedule.visits_page(pet_id, PageRequest(limit=VISITS_LOOKED_AT))
        if any(v.audio is not None and v.audio.file_name == DICTATION for v in visits.items):
            return "transcription: demo dictation already there"
        audio = demo_dictation()
        key = ObjectKey.new(
            UploadKind.VISIT_AUDIO, now=self._clock.now(), object_id=self._ids.new_id()
        ).value
        stored = await self._storage.put_stream(
            key,
            one_chunk(audio),
            max_bytes=len(audio),
            content_type="audio/ogg",
            inspect_head=self._inspectors(UploadKind.VISIT_AUDIO),
        )
        now = self._clock.now()
        visit = Visit(
            id=self._ids.new_id(),
            pet_id=pet_id,
            practice_id=practice.id,
            appointment_id=None,
            visit_date=now - timedelta(hours=1),
            transcript_text=None,
            state=VisitState.NEW,
            created_by=vet.id,
            created_at=now,
            updated_at=now,
            audio=StoredFile(
                key=stored.key,
                content_type=stored.content_type or "audio/ogg",
                size_bytes=stored.size,
                sha256=stored.sha256 or "",
                file_name=DICTATION,
            ),
        )
        wanted = audio_attached(visit, configured=self._configured)
        async with self._uow() as uow:
            await uow.visits.add(visit)
            if wanted is not None:
                uow.record(wanted)
            await uow.commit()
        return f"transcription: a dictated visit ({visit.transcription_status.value})"
