"""What the demo seeders share: their common collaborators and the storing of a demo
recording as a new visit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from vetchart.domain.appointments import StoredFile, Visit
from vetchart.domain.uploads import ObjectKey, UploadKind
from vetchart.services.ports.clients import ClientQueries
from vetchart.services.ports.schedule import ScheduleQueries
from vetchart.services.ports.storage import HeadInspectorFactory, ObjectStorage
from vetchart.services.ports.system import Clock, IdGenerator
from vetchart.services.ports.unit_of_work import UnitOfWorkFactory


async def one_chunk(payload: bytes) -> AsyncIterator[bytes]:
    """``payload`` as a one-chunk stream, for ObjectStorage uploads."""
    yield payload


@dataclass(kw_only=True)
class DemoSeeder:
    """The collaborators every demo seeder uses."""

    uow: UnitOfWorkFactory
    clock: Clock
    ids: IdGenerator
    clients: ClientQueries


@dataclass(kw_only=True)
class DemoVisitSeeder(DemoSeeder):
    """A demo seeder that stores recordings as visits."""

    schedule: ScheduleQueries
    storage: ObjectStorage
    inspectors: HeadInspectorFactory

    async def recorded_visit(
        self,
        audio: bytes,
        *,
        content_type: str,
        max_bytes: int,
        file_name: str,
        pet_id: UUID,
        practice_id: UUID,
        appointment_id: UUID | None,
        visit_date: datetime,
        transcript_text: str | None,
        vet_id: UUID,
    ) -> Visit:
        """Store ``audio`` as a visit recording; return the (not yet added) new visit."""
        key = ObjectKey.new(
            UploadKind.VISIT_AUDIO, now=self.clock.now(), object_id=self.ids.new_id()
        ).value
        stored = await self.storage.put_stream(
            key,
            one_chunk(audio),
            max_bytes=max_bytes,
            content_type=content_type,
            inspect_head=self.inspectors(UploadKind.VISIT_AUDIO),
        )
        return Visit.new(
            id=self.ids.new_id(),
            pet_id=pet_id,
            practice_id=practice_id,
            appointment_id=appointment_id,
            visit_date=visit_date,
            transcript_text=transcript_text,
            created_by=vet_id,
            now=self.clock.now(),
            audio=StoredFile(
                key=stored.key,
                content_type=stored.content_type or content_type,
                size_bytes=stored.size,
                sha256=stored.sha256 or "",
                file_name=file_name,
            ),
        )
