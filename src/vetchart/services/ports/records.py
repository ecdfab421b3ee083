"""Medical-record ports: the records' repository, read side and fast-path reads, and the
records' file attachments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol
from uuid import UUID

from vetchart.domain.policy import ClientScope
from vetchart.domain.records import MedicalRecord, PetFacts, RecordEvent, RecordType
from vetchart.services.ports.paging import Page, PageRequest, ReadAudit, Row


class MedicalRecordRepository(Protocol):
    async def add(self, record: MedicalRecord) -> None:
        """Insert the projection and append the record's new events."""
        ...

    async def get(
        self, record_id: UUID, scope: ClientScope, *, for_update: bool = False
    ) -> MedicalRecord | None:
        """The record if its pet is in the scope; with ``for_update`` the row is locked, so
        the version check and the append that follows are atomic."""
        ...

    async def get_with_pet(
        self, record_id: UUID, scope: ClientScope, *, for_update: bool = False
    ) -> tuple[MedicalRecord, PetFacts] | None:
        """As ``get`` (one statement), with what the rules need to know about its pet."""
        ...

    async def save(self, record: MedicalRecord) -> None:
        """Append the record's new events and update the projection (one statement)."""
        ...

    async def any_for_pet(self, pet_id: UUID) -> bool: ...


@dataclass(frozen=True)
class RecordFilters:
    record_type: RecordType | None = None
    visit_from: date | None = None
    visit_to: date | None = None
    include_entered_in_error: bool = False


@dataclass(frozen=True)
class ActorName:
    id: UUID
    full_name: str
    role: str


@dataclass(frozen=True)
class HistoryEntry:
    event: RecordEvent
    actor: ActorName


class RecordQueries(Protocol):
    """Read side of medical records: one statement per page, history or version."""

    async def version(self, record_id: UUID, version: int) -> HistoryEntry | None: ...

    async def as_of(self, record_id: UUID, moment: datetime) -> RecordEvent | None:
        """The last event recorded at or before ``moment``."""
        ...

    async def follow_ups_page(
        self, practice_id: UUID, due_before: date, page: PageRequest
    ) -> Page[MedicalRecord]:
        """Active records with a follow-up due on or before the date, by (date, id)."""
        ...

    async def pet_records(self, pet_id: UUID) -> list[MedicalRecord]:
        """Every current record of the pet but those entered in error, by (visit_date, id)
        descending: one statement (the caller has checked the scope)."""
        ...

    async def pet_attachments(self, pet_id: UUID) -> list[Attachment]:
        """The attachments of those records, by (created_at, id): one statement."""
        ...


class RecordReads(Protocol):
    """The fast path of the hot record reads: plain rows, and each read's audit row
    committed before they are returned (None: not in the scope, nothing written)."""

    async def pet_records(
        self,
        scope: ClientScope,
        pet_id: UUID,
        filters: RecordFilters,
        page: PageRequest,
        now: datetime,
        audit: ReadAudit,
    ) -> Page[Row] | None:
        """Current versions by (visit_date, id) descending; the page's first row carries
        ``SEEN_IDS`` and ``SEEN_PRACTICES`` (its audit row is written empty or not)."""
        ...

    async def record(
        self, scope: ClientScope, record_id: UUID, now: datetime, audit: ReadAudit
    ) -> Row | None: ...

    async def history(
        self, scope: ClientScope, record_id: UUID, page: PageRequest, audit: ReadAudit
    ) -> Page[Row] | None:
        """Versions oldest first, each with its actor (``actor_name``, ``actor_role``)."""
        ...


# --------------------------------------------------------------------------- attachments


@dataclass(frozen=True)
class Attachment:
    id: UUID
    record_id: UUID
    practice_id: UUID
    object_key: str
    file_name: str
    content_type: str
    size_bytes: int
    sha256: str
    description: str | None
    created_by: UUID
    created_at: datetime


class AttachmentRepository(Protocol):
    async def add(self, attachment: Attachment) -> None: ...

    async def get(self, attachment_id: UUID, scope: ClientScope) -> Attachment | None: ...

    async def for_record(self, record_id: UUID) -> list[Attachment]: ...

    async def referenced(self, keys: list[str]) -> set[str]: ...
