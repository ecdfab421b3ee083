"""Ports the use cases own. Adapters implement them; bootstrap wires them."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Protocol, Self, TypeVar
from uuid import UUID

from vetchart.domain.audit import AuditEntry, RequestMeta
from vetchart.domain.events import DomainEvent
from vetchart.domain.owners import Association, AssociationStatus, PetOwner
from vetchart.domain.pets import Pet
from vetchart.domain.policy import ClientScope, Principal
from vetchart.domain.practices import Practice
from vetchart.domain.records import MedicalRecord, PetFacts, RecordEvent, RecordType
from vetchart.domain.sessions import SessionRecord
from vetchart.domain.throttle import ThrottleState
from vetchart.domain.users import Role, User

if TYPE_CHECKING:
    from vetchart.services.kb_ports import KbRepository
    from vetchart.services.schedule_ports import (
        AppointmentRepository,
        AttachmentRepository,
        VisitRepository,
    )

T = TypeVar("T")

# A row of the read side's fast path, keyed by the response's field names and ready to be
# presented as JSON as it is: ids, dates and times as such, decimal numbers as their text,
# structured ``data`` as its JSON text (api/presenters.py says which field is which).
Row = Mapping[str, Any]

# What an audited read saw, carried on the FIRST row it returns (from which its audit row
# is built, adapters/db/audited_reads.py): a page's ``SEEN_IDS`` are the ids of the rows
# the caller gets, in page order (None: an empty page); ``SEEN_PRACTICES`` the practices
# their data belongs to (the rows' own practice; for pets and owners, read outside a
# practice's scope, the practices with an approved association with the owner).
SEEN_IDS = "seen_ids"
SEEN_PRACTICES = "seen_practices"
# An audited read's audit entry, built from that first row.
EntryFor = Callable[[Row], AuditEntry]

# --------------------------------------------------------------------------- system


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, UTC."""
        ...


class IdGenerator(Protocol):
    def new_id(self) -> UUID:
        """A new time-ordered (UUIDv7) identifier."""
        ...


# --------------------------------------------------------------------------- repositories


class UserRepository(Protocol):
    async def get(self, user_id: UUID, *, for_update: bool = False) -> User | None: ...
    async def get_by_email(self, email: str) -> User | None: ...
    async def add(self, user: User) -> None:
        """Insert; raises ``Conflict`` when the email is taken."""
        ...

    async def save(self, user: User) -> None: ...


class PracticeRepository(Protocol):
    async def get(self, practice_id: UUID, *, for_update: bool = False) -> Practice | None: ...
    async def get_by_name(self, name: str) -> Practice | None: ...
    async def add(self, practice: Practice) -> None:
        """Insert; ``Conflict`` when the license number is taken."""
        ...

    async def save(self, practice: Practice) -> None:
        """Update; ``Conflict`` when the license number is taken."""
        ...


@dataclass(frozen=True)
class Invitation:
    id: UUID
    practice_id: UUID
    email: str
    role: Role
    token_hash: bytes
    invited_by: UUID
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None = None
    accepted_user_id: UUID | None = None


class InvitationRepository(Protocol):
    async def add(self, invitation: Invitation) -> None: ...
    async def get_by_token_hash(self, token_hash: bytes) -> Invitation | None:
        """Row-locked for this transaction (single use under concurrency)."""
        ...

    async def mark_accepted(self, invitation_id: UUID, user_id: UUID, now: datetime) -> None: ...


class PetOwnerRepository(Protocol):
    async def add(self, owner: PetOwner) -> None: ...
    async def get(
        self, owner_id: UUID, scope: ClientScope, *, for_update: bool = False
    ) -> PetOwner | None:
        """The owner if it exists *and* is in the scope; None otherwise."""
        ...

    async def get_by_user(self, user_id: UUID) -> PetOwner | None: ...
    async def find_by_email(self, email: str) -> PetOwner | None: ...
    async def get_unscoped(self, owner_id: UUID) -> PetOwner | None:
        """The owner whatever the caller's scope: for the services' own decisions (whose
        consent a link needs), never handed to a caller as it is."""
        ...

    async def save(self, owner: PetOwner) -> None: ...


class AssociationRepository(Protocol):
    async def add(self, association: Association) -> None:
        """Insert; ``Conflict`` when an open one exists for the owner and practice."""
        ...

    async def get(
        self, association_id: UUID, *, for_update: bool = False
    ) -> Association | None: ...
    async def get_open(self, owner_id: UUID, practice_id: UUID) -> Association | None:
        """The open (pending or approved) association of the owner and practice, if any."""
        ...

    async def save(self, association: Association) -> None: ...


class PetRepository(Protocol):
    async def add(self, pet: Pet) -> None:
        """Insert; ``Conflict`` when the microchip is taken."""
        ...

    async def get(
        self, pet_id: UUID, scope: ClientScope, *, for_update: bool = False
    ) -> Pet | None:
        """The pet if it exists and its owner is in the scope; None otherwise."""
        ...

    async def care_practices(self, pet_id: UUID, scope: ClientScope) -> list[UUID] | None:
        """The practices the pet's owner is a client of (an approved association), by id:
        what the pet's data belongs to, for the audit row of a read; None when the pet is
        not in the scope. One statement."""
        ...

    async def save(self, pet: Pet) -> None:
        """Update; ``Conflict`` when the microchip is taken."""
        ...


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


class Mailer(Protocol):
    async def send(self, message: MailMessage) -> None: ...


@dataclass(frozen=True)
class MailMessage:
    to: str
    subject: str
    text: str
    # Values (tokens) that must never appear in production logs.
    secrets: tuple[str, ...] = ()
    # A stable id (the outbox event's): a message sent twice carries the same Message-ID,
    # so mail systems can drop the copy.
    message_id: str | None = None


class SessionRepository(Protocol):
    async def add(self, session: SessionRecord) -> None: ...
    async def get(self, session_id: UUID, *, for_update: bool = False) -> SessionRecord | None: ...
    async def touch(self, session_id: UUID, now: datetime) -> None: ...
    async def revoke(self, session_id: UUID, now: datetime, reason: str) -> bool: ...
    async def revoke_all(
        self, user_id: UUID, now: datetime, reason: str, *, keep: UUID | None = None
    ) -> list[UUID]: ...
    async def list_active(self, user_id: UUID, now: datetime) -> list[SessionRecord]: ...
    async def add_refresh_token(
        self, token_id: UUID, session_id: UUID, token_hash: bytes, now: datetime
    ) -> None: ...
    async def spend_refresh_token(self, token_hash: bytes, now: datetime) -> SpentToken: ...
    async def principal(self, session_id: UUID, user_id: UUID) -> SessionPrincipal | None:
        """The session joined with its user, for authentication."""
        ...


class RefreshTokenState(enum.Enum):
    SPENT_NOW = "spent_now"  # this call spent it: the caller may rotate
    ALREADY_SPENT = "already_spent"  # reuse: the family must be revoked
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class SpentToken:
    state: RefreshTokenState
    session_id: UUID | None


@dataclass(frozen=True)
class SessionPrincipal:
    session: SessionRecord
    user: User


class ThrottleRepository(Protocol):
    async def lock(self, key: str, now: datetime) -> ThrottleState:
        """The state for ``key``, row-locked for this transaction (created if absent)."""
        ...

    async def peek(self, key: str) -> ThrottleState | None: ...
    async def save(self, state: ThrottleState, now: datetime) -> None: ...
    async def clear(self, key: str) -> None: ...
    async def clear_many(self, keys: Sequence[str], prefixes: Sequence[str]) -> int:
        """Delete these keys and every key starting with one of the prefixes; how many."""
        ...

    async def purge_idle(self, idle_before: datetime, now: datetime) -> int:
        """Delete keys untouched since ``idle_before`` and not locked at ``now``; how many."""
        ...


class RecoveryCodeRepository(Protocol):
    async def replace(self, user_id: UUID, code_hashes: Sequence[bytes], now: datetime) -> None: ...
    async def use(self, user_id: UUID, code_hash: bytes, now: datetime) -> bool:
        """Spend an unused code atomically; False when unknown or already used."""
        ...

    async def clear(self, user_id: UUID) -> None: ...


class AuditLog(Protocol):
    def record(self, entry: AuditEntry, meta: RequestMeta) -> None:
        """Queue an audit row; it is written with the unit of work's commit."""
        ...


class JobQueue(Protocol):
    def defer(
        self, task: str, args: Mapping[str, object], *, queueing_lock: str | None = None
    ) -> None:
        """Queue a background job (``task`` is one of services.jobs' names); it is saved
        with the unit of work's commit, so it exists if and only if the change does."""
        ...


@dataclass(frozen=True)
class OutboxMessage:
    """A domain event as saved in the outbox (sealed fields already opened)."""

    id: UUID
    event_type: str
    payload: dict[str, Any]
    occurred_at: datetime
    delivered_at: datetime | None


class OutboxRepository(Protocol):
    async def get(self, event_id: UUID) -> OutboxMessage | None: ...

    async def claim(self, handler: str, event_id: UUID, now: datetime) -> bool:
        """Mark ``event_id`` handled by ``handler`` in this transaction. False if it already
        was; a concurrent claim of the same pair waits for this transaction to end."""
        ...

    async def mark_delivered(self, event_id: UUID, now: datetime) -> None: ...

    async def purge_delivered(self, before: datetime) -> int:
        """Delete delivered events (and their handled marks) older than ``before``."""
        ...


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
    def attachments(self) -> AttachmentRepository: ...
    @property
    def jobs(self) -> JobQueue: ...
    @property
    def outbox(self) -> OutboxRepository: ...
    @property
    def kb(self) -> KbRepository: ...

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


# --------------------------------------------------------------------------- read side


@dataclass(frozen=True)
class PageRequest:
    limit: int
    after: tuple[object, ...] | None = None


@dataclass(frozen=True)
class UserFilters:
    practice_id: UUID | None = None
    role: Role | None = None
    q: str | None = None


class UserQueries(Protocol):
    async def users_page(
        self, scope_practice_id: UUID | None, filters: UserFilters, page: PageRequest
    ) -> Page[User]:
        """Users ordered by (full_name, id), after the keyset ``page.after``."""
        ...


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    # The sort key of the last item when there are more rows; None on the last page.
    next_key: tuple[object, ...] | None


@dataclass(frozen=True)
class PetFilters:
    owner_id: UUID | None = None
    species: str | None = None
    q: str | None = None
    include_inactive: bool = False


@dataclass(frozen=True)
class AssociationView:
    association: Association
    owner_name: str
    practice_name: str


@dataclass(frozen=True)
class PetView:
    pet: Pet
    owner: PetOwner


@dataclass(frozen=True)
class AuditFilters:
    practice_id: UUID | None = None  # the caller's scope (None: every practice)
    actor_id: UUID | None = None
    action: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    outcome: str | None = None
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None


@dataclass(frozen=True)
class AuditEventView:
    id: UUID
    occurred_at: datetime
    actor_id: UUID | None
    actor_role: str | None
    practice_id: UUID | None
    action: str
    resource_type: str
    resource_id: str | None
    outcome: str
    request_id: str | None
    client_address: str | None
    user_agent: str | None
    details: dict[str, Any]


@dataclass(frozen=True)
class AccessLogEntry:
    id: UUID
    occurred_at: datetime
    actor_id: UUID | None
    actor_name: str | None
    actor_role: str | None
    practice_id: UUID | None
    action: str
    resource_type: str
    resource_id: str | None


class AuditQueries(Protocol):
    async def search(self, filters: AuditFilters, page: PageRequest) -> Page[AuditEventView]:
        """Newest first: keyset (occurred_at, id) descending."""
        ...

    async def access_log(self, pet_id: UUID, page: PageRequest) -> Page[AccessLogEntry]:
        """Successful reads and changes of the pet's data, newest first."""
        ...


class ClientQueries(Protocol):
    """Read side of practices, owners, associations and pets (keyset pages)."""

    async def practices_page(self, page: PageRequest) -> Page[Practice]:
        """Active practices by (name, id)."""
        ...

    async def staff_page(self, practice_id: UUID, page: PageRequest) -> Page[User]:
        """Active staff of a practice by (full_name, id)."""
        ...

    async def associations_page(
        self,
        *,
        practice_id: UUID | None,
        owner_id: UUID | None,
        status: AssociationStatus | None,
        page: PageRequest,
        practice_view: bool = False,
    ) -> Page[AssociationView]:
        """Associations by (created_at, id), newest first. ``practice_view``: only those a
        practice's staff may see (``Association.visible_to_practice``)."""
        ...

    async def pets_page(
        self, scope: ClientScope, filters: PetFilters, page: PageRequest
    ) -> Page[PetView]:
        """Pets in scope by (name, id), each with its owner."""
        ...

    async def pet_detail(self, scope: ClientScope, pet_id: UUID) -> PetView | None: ...


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


class ClientReads(Protocol):
    """The fast path of the pet and owner reads: plain rows (a pet with its owner, the
    owner's fields prefixed ``owner__``; an owner), in the scope or not at all, each read
    with its audit row committed before the rows are returned. A page is never None (an
    empty page is audited too); a single read is None when not in the scope (nothing
    written)."""

    async def pet(
        self, scope: ClientScope, pet_id: UUID, entry_for: EntryFor, meta: RequestMeta
    ) -> Row | None: ...

    async def pets_page(
        self,
        scope: ClientScope,
        filters: PetFilters,
        page: PageRequest,
        entry_for: EntryFor,
        meta: RequestMeta,
    ) -> Page[Row]:
        """By (name, id)."""
        ...

    async def owner(
        self, scope: ClientScope, owner_id: UUID, entry_for: EntryFor, meta: RequestMeta
    ) -> Row | None: ...

    async def owners_page(
        self,
        scope: ClientScope,
        q: str | None,
        page: PageRequest,
        entry_for: EntryFor,
        meta: RequestMeta,
    ) -> Page[Row]:
        """By (full_name, id)."""
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
        entry_for: EntryFor,
        meta: RequestMeta,
    ) -> Page[Row] | None:
        """Current versions by (visit_date, id) descending; the page's first row carries
        ``SEEN_IDS`` and ``SEEN_PRACTICES`` (its audit row is written empty or not)."""
        ...

    async def record(
        self,
        scope: ClientScope,
        record_id: UUID,
        now: datetime,
        entry_for: Callable[[Row], AuditEntry],
        meta: RequestMeta,
    ) -> Row | None: ...

    async def history(
        self,
        scope: ClientScope,
        record_id: UUID,
        page: PageRequest,
        entry_for: Callable[[Row], AuditEntry],
        meta: RequestMeta,
    ) -> Page[Row] | None:
        """Versions oldest first, each with its actor (``actor_name``, ``actor_role``)."""
        ...


# --------------------------------------------------------------------------- idempotency


class Claim(enum.Enum):
    NEW = "new"  # this request is the first: process it, then complete() or abandon()
    REPLAY = "replay"  # a stored response exists for the same request
    MISMATCH = "mismatch"  # the key was used for a different request
    IN_PROGRESS = "in_progress"  # the first request with this key is still running (lease)


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class ClaimResult:
    claim: Claim
    stored: StoredResponse | None = None
    # For NEW: when this attempt took the key (its lease runs from then). complete() and
    # abandon() act only on the claim taken at that instant, so a request that outlived its
    # lease (and was taken over) cannot overwrite or free its successor's claim.
    claimed_at: datetime | None = None


class IdempotencyStore(Protocol):
    """First responses of POSTs sent with an Idempotency-Key, per user, for 24 hours.

    A claim whose request is still running holds the key for ``lease``; once the lease has
    run out (the process died mid-request) the next request with the same key and the same
    fingerprint takes the claim over (NEW) instead of waiting out the 24 hours."""

    async def claim(
        self, user_id: UUID, key: str, fingerprint: bytes, now: datetime, *, lease: timedelta
    ) -> ClaimResult: ...
    async def complete(
        self, user_id: UUID, key: str, claimed_at: datetime, response: StoredResponse
    ) -> None: ...
    async def abandon(self, user_id: UUID, key: str, claimed_at: datetime) -> None: ...
    async def purge_expired(self, now: datetime) -> int: ...


# --------------------------------------------------------------------------- security


class PasswordHasher(Protocol):
    """Slow, salted password hashing. Every method that hashes may raise ``Unavailable``
    when too many hashes are already waiting (the request is shed, not queued forever)."""

    async def hash(self, password: str) -> str: ...
    async def verify(self, password_hash: str, password: str) -> bool: ...
    def needs_rehash(self, password_hash: str) -> bool: ...
    async def verify_dummy(self, password: str) -> None:
        """Spend the time of one verification (unknown users: no timing oracle)."""
        ...


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in: int


@dataclass(frozen=True)
class AccessClaims:
    user_id: UUID
    session_id: UUID
    role: str
    jti: str


@dataclass(frozen=True)
class MfaClaims:
    user_id: UUID
    jti: str


class TokenService(Protocol):
    def issue_access(self, user: User, session_id: UUID, now: datetime) -> IssuedToken: ...
    def verify_access(self, token: str, now: datetime) -> AccessClaims:
        """Raises ``Unauthenticated`` for anything but a valid access token."""
        ...

    def issue_mfa(self, user_id: UUID, now: datetime) -> IssuedToken: ...
    def verify_mfa(self, token: str, now: datetime) -> MfaClaims: ...


class SecretBox(Protocol):
    """Symmetric encryption for secrets kept at rest (e.g. TOTP seeds)."""

    def seal(self, plaintext: str) -> str: ...
    def open(self, sealed: str) -> str: ...


class Totp(Protocol):
    def new_secret(self) -> str: ...
    def provisioning_uri(self, secret: str, account: str) -> str: ...
    def matching_timestep(self, secret: str, code: str, now: datetime) -> int | None:
        """The time step the code is valid for (allowing one step of drift), or None."""
        ...


class PrincipalCache(Protocol):
    """A few seconds of memory for authenticated sessions; invalidated on revoke."""

    def get(self, session_id: UUID) -> Principal | None: ...
    def put(self, principal: Principal) -> None: ...
    def invalidate(self, session_ids: Sequence[UUID]) -> None: ...
