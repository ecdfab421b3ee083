"""The Unit of Work: one transaction and the repositories that share it (each defined
in the port module of its subject)."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self

from vetchart.domain.events import DomainEvent
from vetchart.services.ports.api_keys import ApiKeyRepository
from vetchart.services.ports.audit import AuditLog
from vetchart.services.ports.clients import AssociationRepository, PetOwnerRepository, PetRepository
from vetchart.services.ports.identity import (
    InvitationRepository,
    PracticeRepository,
    RecoveryCodeRepository,
    SessionRepository,
    ThrottleRepository,
    UserRepository,
)
from vetchart.services.ports.kb import KbRepository
from vetchart.services.ports.notifications import MessagingRepository
from vetchart.services.ports.outbox import JobQueue, OutboxRepository
from vetchart.services.ports.records import AttachmentRepository, MedicalRecordRepository
from vetchart.services.ports.schedule import AppointmentRepository, VisitRepository
from vetchart.services.ports.scheduling import SchedulingRepository
from vetchart.services.ports.webhooks import WebhookRepository


class UnitOfWork(Protocol):
    """One transaction. Rolls back on exit unless ``commit()`` was awaited.

    Usage in a service method::

        async with self.uow() as uow:
            ...
            await uow.commit()
    """

    @property
    def users(self) -> UserRepository: ...
    @property
    def practices(self) -> PracticeRepository: ...
    @property
    def invitations(self) -> InvitationRepository: ...
    @property
    def pet_owners(self) -> PetOwnerRepository: ...
    @property
    def associations(self) -> AssociationRepository: ...
    @property
    def pets(self) -> PetRepository: ...
    @property
    def records(self) -> MedicalRecordRepository: ...
    @property
    def sessions(self) -> SessionRepository: ...
    @property
    def throttles(self) -> ThrottleRepository: ...
    @property
    def recovery_codes(self) -> RecoveryCodeRepository: ...
    @property
    def audit(self) -> AuditLog: ...
    @property
    def appointments(self) -> AppointmentRepository: ...
    @property
    def visits(self) -> VisitRepository: ...
    @property
    def scheduling(self) -> SchedulingRepository: ...
    @property
    def attachments(self) -> AttachmentRepository: ...
    @property
    def jobs(self) -> JobQueue: ...
    @property
    def outbox(self) -> OutboxRepository: ...
    @property
    def kb(self) -> KbRepository: ...
    @property
    def messaging(self) -> MessagingRepository: ...
    @property
    def webhooks(self) -> WebhookRepository: ...
    @property
    def api_keys(self) -> ApiKeyRepository: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...

    def record(self, event: DomainEvent) -> None:
        """Collect a domain event; it is saved with the transaction's commit."""
        ...

    def collected_events(self) -> list[DomainEvent]:
        """The events recorded in this unit of work so far (oldest first)."""
        ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...
