"""Schedule ports: appointments and visits (repositories), their read models and read
side (the dashboard, the timeline), the fast-path reads, and the dashboard cache."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol
from uuid import UUID

from vetchart.domain.appointments import Appointment, AppointmentStatus, Visit
from vetchart.domain.audit import AuditEntry, RequestMeta
from vetchart.domain.policy import ClientScope, PracticeFacts
from vetchart.domain.records import MedicalRecord
from vetchart.services.ports.paging import Page, PageRequest, ReadAudit, Row


@dataclass(frozen=True)
class PetBrief:
    id: UUID
    name: str
    species: str


@dataclass(frozen=True)
class AppointmentView:
    appointment: Appointment
    pets: list[PetBrief]
    owner_name: str


@dataclass(frozen=True)
class AppointmentFilters:
    scope: ClientScope
    practice_id: UUID | None = None
    owner_id: UUID | None = None
    start_from: datetime | None = None
    start_to: datetime | None = None
    vet_id: UUID | None = None
    status: AppointmentStatus | None = None


@dataclass(frozen=True, kw_only=True)
class DashboardQuery:
    """A practice's dashboard for one day: the appointments starting in
    [``day_start``, ``day_end``) (``vet_id``'s only, when given), the follow-ups due by
    ``today`` and the visits awaiting review, at most ``limit`` of each."""

    practice_id: UUID
    day_start: datetime
    day_end: datetime
    today: date
    vet_id: UUID | None
    limit: int


@dataclass(frozen=True)
class DashboardView:
    appointments: list[AppointmentView]
    follow_ups: list[MedicalRecord]
    visits_awaiting_review: list[Visit]
    day: date | None = None
    timezone: str | None = None
    cached: bool = False


@dataclass(frozen=True)
class TimelineEntry:
    kind: str  # medical_record | appointment | visit
    id: UUID
    occurred_on: date
    record: MedicalRecord | None = None
    appointment: AppointmentView | None = None
    visit: Visit | None = None


class AppointmentRepository(Protocol):
    async def add(self, appointment: Appointment) -> None:
        """Raises ``Conflict`` (naming the clash) when the vet's slot is taken."""
        ...

    async def get(
        self, appointment_id: UUID, scope: ClientScope, *, for_update: bool = False
    ) -> Appointment | None: ...

    async def save(self, appointment: Appointment, *, pets_changed: bool = False) -> None: ...

    async def owner_pets(self, owner_id: UUID, pet_ids: tuple[UUID, ...]) -> set[UUID]: ...


class VisitRepository(Protocol):
    async def add(self, visit: Visit) -> None: ...

    async def get(
        self, visit_id: UUID, scope: ClientScope, *, for_update: bool = False
    ) -> Visit | None: ...

    async def save(self, visit: Visit) -> None: ...


class ScheduleQueries(Protocol):
    async def appointments_page(
        self, filters: AppointmentFilters, page: PageRequest
    ) -> Page[AppointmentView]: ...

    async def appointment_view(self, appointment_id: UUID) -> AppointmentView | None: ...

    async def visits_page(self, pet_id: UUID, page: PageRequest) -> Page[Visit]: ...

    async def appointment_visits_page(self, appointment_id: UUID, page: PageRequest) -> Page[Visit]:
        """The appointment's visits, newest ``visit_date`` first, then id."""

    async def pet_visits(self, pet_id: UUID) -> list[Visit]:
        """Every visit of the pet, newest first: one statement (the scope checked before)."""
        ...

    async def dashboard(self, query: DashboardQuery) -> DashboardView: ...

    async def timeline_page(
        self, pet_id: UUID, scope: ClientScope, page: PageRequest
    ) -> Page[TimelineEntry]: ...


class ScheduleReads(Protocol):
    """The fast path of the hot schedule reads: plain rows (``ports.paging.Row``)."""

    async def practice(self, practice_id: UUID) -> PracticeFacts | None: ...

    async def practice_audited(
        self, practice_id: UUID, entry: AuditEntry, meta: RequestMeta
    ) -> PracticeFacts | None:
        """The practice, the read's audit row committed first (None: no such practice)."""
        ...

    async def appointment(
        self, scope: ClientScope, appointment_id: UUID, audit: ReadAudit
    ) -> Row | None:
        """The appointment in the scope, with its owner's name, pet ids and pets; its audit
        row committed first (None: not in the scope, nothing written)."""
        ...

    async def appointments_page(
        self, filters: AppointmentFilters, page: PageRequest, audit: ReadAudit
    ) -> Page[Row]:
        """By (start_at, id), each as :meth:`appointment`; the page's audit row committed
        first, empty or not (its first row carries ``ports.paging.SEEN_IDS`` and
        ``SEEN_PRACTICES``)."""
        ...

    async def owner_appointments(
        self, scope: ClientScope, owner_id: UUID, page: PageRequest, audit: ReadAudit
    ) -> Page[Row] | None:
        """The owner's appointments in the scope, as :meth:`appointments_page`; None when
        the owner is not in the client scope (nothing written)."""
        ...


class DashboardCache(Protocol):
    """A short-lived cache of dashboards, invalidated per practice."""

    async def generation(self, practice_id: UUID) -> int:
        """The practice's current generation: read it before querying, store under it."""
        ...

    async def get(self, practice_id: UUID, generation: int, key: str) -> bytes | None: ...

    async def put(self, practice_id: UUID, generation: int, key: str, value: bytes) -> None: ...

    async def invalidate(self, practice_id: UUID) -> None: ...
