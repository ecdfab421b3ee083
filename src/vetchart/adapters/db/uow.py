"""The SQLAlchemy Unit of Work: one session, one transaction, explicit lifecycle."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any, Self

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from vetchart.adapters.db.api_keys import SqlApiKeyRepository
from vetchart.adapters.db.audit import SqlAuditLog
from vetchart.adapters.db.kb import SqlKbRepository
from vetchart.adapters.db.messaging import SqlMessagingRepository
from vetchart.adapters.db.outbox import SqlJobQueue, SqlOutbox
from vetchart.adapters.db.records import SqlMedicalRecordRepository
from vetchart.adapters.db.repositories import (
    SqlAssociationRepository,
    SqlInvitationRepository,
    SqlPetOwnerRepository,
    SqlPetRepository,
    SqlPracticeRepository,
    SqlRecoveryCodeRepository,
    SqlSessionRepository,
    SqlThrottleRepository,
    SqlUserRepository,
)
from vetchart.adapters.db.schedule import (
    SqlAppointmentRepository,
    SqlAttachmentRepository,
    SqlVisitRepository,
)
from vetchart.adapters.db.scheduling import SqlSchedulingRepository
from vetchart.adapters.db.webhooks import SqlWebhookRepository
from vetchart.domain.appointments import Appointment, Visit
from vetchart.domain.audit import AuditKey
from vetchart.domain.events import DomainEvent
from vetchart.domain.records import MedicalRecord
from vetchart.services.ports.outbox import OutboxMessage
from vetchart.services.ports.system import Clock, IdGenerator, SecretBox

log = structlog.get_logger(__name__)

AfterCommit = Callable[[Sequence[OutboxMessage]], Awaitable[None]]


class SqlAlchemyUnitOfWork:
    """Opens a session on enter, closes it on exit; rolls back unless committed.

    Repositories share ``self.session`` and never commit or flush on their own. ``commit()``
    writes, in the same transaction and in this order: the collected domain events to the
    outbox with a delivery job each, with the queued jobs (one statement), and last the
    audit entries (which
    hold their hash chain's head only from there to the commit).
    A unit of work object is single-use per ``async with`` block.

    ``after_commit`` (bootstrap: the cache invalidation, services/invalidation.py) is
    given the outbox events each commit wrote, once the commit succeeded.
    """

    users: SqlUserRepository
    practices: SqlPracticeRepository
    invitations: SqlInvitationRepository
    pet_owners: SqlPetOwnerRepository
    associations: SqlAssociationRepository
    pets: SqlPetRepository
    records: SqlMedicalRecordRepository
    sessions: SqlSessionRepository
    throttles: SqlThrottleRepository
    recovery_codes: SqlRecoveryCodeRepository
    audit: SqlAuditLog
    appointments: SqlAppointmentRepository
    visits: SqlVisitRepository
    scheduling: SqlSchedulingRepository
    attachments: SqlAttachmentRepository
    jobs: SqlJobQueue
    outbox: SqlOutbox
    kb: SqlKbRepository
    messaging: SqlMessagingRepository
    webhooks: SqlWebhookRepository
    api_keys: SqlApiKeyRepository

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        clock: Clock,
        ids: IdGenerator,
        secret_box: SecretBox,
        audit_key: AuditKey,
        *,
        after_commit: AfterCommit | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._after_commit = after_commit
        self._audit_key = audit_key
        self._clock = clock
        self._ids = ids
        self._secret_box = secret_box
        self._session: AsyncSession | None = None
        self._events: list[DomainEvent] = []
        self._seen_records: list[MedicalRecord] = []
        self._seen_schedule: list[Appointment | Visit] = []
        self._committed = False

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("the unit of work is not open: use 'async with uow:'")
        return self._session

    async def __aenter__(self) -> Self:
        if self._session is not None:
            raise RuntimeError("this unit of work is already open")
        session = self._session_factory()
        self._session = session
        self._events = []
        self._committed = False
        self.users = SqlUserRepository(session)
        self.practices = SqlPracticeRepository(session)
        self.invitations = SqlInvitationRepository(session)
        self.pet_owners = SqlPetOwnerRepository(session)
        self.associations = SqlAssociationRepository(session)
        self.pets = SqlPetRepository(session)
        self._seen_records = []
        self.records = SqlMedicalRecordRepository(session, self._seen_records)
        self._seen_schedule = []
        self.appointments = SqlAppointmentRepository(session, self._seen_schedule)  # type: ignore[arg-type]
        self.visits = SqlVisitRepository(session, self._seen_schedule)  # type: ignore[arg-type]
        self.scheduling = SqlSchedulingRepository(session, self._ids)
        self.attachments = SqlAttachmentRepository(session)
        self.sessions = SqlSessionRepository(session)
        self.throttles = SqlThrottleRepository(session)
        self.recovery_codes = SqlRecoveryCodeRepository(session, self._ids)
        self.audit = SqlAuditLog(self._clock, self._ids, self._audit_key)
        self.jobs = SqlJobQueue()
        self.outbox = SqlOutbox(session, self._ids, self._secret_box)
        self.kb = SqlKbRepository(session)
        self.messaging = SqlMessagingRepository(session)
        self.webhooks = SqlWebhookRepository(session, self._secret_box)
        self.api_keys = SqlApiKeyRepository(session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        try:
            if not self._committed:
                # Rolled back: its audit entries and events never happened (as in rollback()).
                self._discard()
                await session.rollback()
        finally:
            await session.close()

    async def commit(self) -> None:
        session = self.session
        events = self.outbox.save(self.collected_events(), self._clock.now(), self.jobs)
        await self.jobs.flush(session, events)
        await self.audit.flush(session)
        await session.commit()
        self._committed = True
        if events and self._after_commit is not None:
            await self._committed_events(events)

    async def _committed_events(self, rows: Sequence[dict[str, Any]]) -> None:
        messages = [
            OutboxMessage(
                id=row["id"],
                event_type=row["event_type"],
                payload=row["payload"],
                occurred_at=row["occurred_at"],
                delivered_at=None,
            )
            for row in rows
        ]
        assert self._after_commit is not None
        try:
            await self._after_commit(messages)
        except Exception as error:  # the change is committed: never fail it now
            log.warning("uow.after_commit_failed", error=type(error).__name__)

    async def rollback(self) -> None:
        self._discard()
        await self.session.rollback()

    def _discard(self) -> None:
        self.audit.discard()
        self.jobs.discard()
        self._events.clear()
        self._seen_records.clear()
        self._seen_schedule.clear()

    def record(self, event: DomainEvent) -> None:
        self._events.append(event)

    def collected_events(self) -> list[DomainEvent]:
        """Events recorded directly, then those raised by the aggregates saved in this unit."""
        raised = [event for record in self._seen_records for event in record.domain_events]
        scheduled = [event for item in self._seen_schedule for event in item.domain_events]
        return [*self._events, *raised, *scheduled]
