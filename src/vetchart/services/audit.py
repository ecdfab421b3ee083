"""Every audit row is made here: services record what an actor did (in the transaction of
the change, or of the read) with :func:`record` / :func:`record_read` (for an item of a
pet's data, a medical record or a visit: :func:`record_item` / :func:`record_item_read`,
which file it under its practice and in its pet's access log), the fast path's
reads hand the adapter a :func:`read_entry`, and refusals come through
:meth:`AuditService.denied`. Each takes an action of the catalogue
(``domain/audit_actions.py``), never a string."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar
from uuid import UUID

from vetchart.domain.audit import AuditEntry, AuditEvent, Outcome, RequestMeta
from vetchart.domain.audit_actions import AuditAction
from vetchart.domain.commands import with_changes
from vetchart.domain.errors import NotFound
from vetchart.domain.policy import Action, Principal, audit_scope, client_scope, require
from vetchart.domain.users import User
from vetchart.services.ports.audit import AccessLogEntry, AuditFilters, AuditQueries
from vetchart.services.ports.paging import SEEN_IDS, SEEN_PRACTICES, Page, PageRequest, Row
from vetchart.services.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory

P = ParamSpec("P")


@dataclass(frozen=True)
class NoCaller:
    """The actor of a row with no signed-in caller behind it (the command line, the
    worker, the demo data): no actor id; ``role`` is what the row names as its role."""

    role: str | None = None


UNATTENDED = NoCaller()  # the command line, the knowledge base's worker and loader
SYSTEM = NoCaller("system")  # the visit summary worker

# Who a row names as having acted: a signed-in caller, an account acting as itself (a
# sign-in, a signup, an accepted invitation), or no caller.
Actor = Principal | User | NoCaller


# The role a row names when an API key acted (its actor id is the key's id).
API_KEY_ROLE = "API_KEY"


def _actor_fields(actor: Actor) -> tuple[UUID | None, str | None]:
    if isinstance(actor, Principal):
        if actor.api_key is not None:
            return actor.api_key.id, API_KEY_ROLE
        return actor.user_id, actor.role.value
    if isinstance(actor, User):
        return actor.id, actor.role.value
    return None, actor.role


def entry(
    actor: Actor,
    action: AuditAction,
    resource_id: UUID | str | None,
    practice_id: UUID | None,
    details: Mapping[str, object] | None = None,
    *,
    outcome: Outcome = Outcome.SUCCESS,
    pet_id: UUID | None = None,
) -> AuditEntry:
    """What one audit row says (the adapters add time, request and chain): the only place
    an entry is made. Its action, and the resource type it names, come from the catalogue
    (``domain/audit_actions.py``)."""
    actor_id, actor_role = _actor_fields(actor)
    shown = dict(details or {})
    if isinstance(actor, Principal) and actor.api_key is not None:
        # Whose key it is: the admin who made it answers for what it does.
        shown["api_key_created_by"] = str(actor.api_key.created_by)
    return AuditEntry(
        action=action.action,
        resource_type=action.row_resource_type(success=outcome is Outcome.SUCCESS),
        resource_id=None if resource_id is None else str(resource_id),
        outcome=outcome,
        actor_id=actor_id,
        actor_role=actor_role,
        practice_id=practice_id,
        details=shown,
        pet_id=pet_id,
    )


def read_entry(
    actor: Principal,
    action: AuditAction,
    resource_id: UUID | str | None,
    details: Mapping[str, object] | None = None,
    *,
    data_practice_id: UUID | None = None,
    data_practice_ids: Iterable[UUID] | None = None,
    pet_id: UUID | None = None,
) -> AuditEntry:
    """A successful read (docs/audit.md, "Reads"), for the fast path's adapter to store
    with the read or for :func:`record_read` to write. Its practice is always the
    READER's (None for PET_OWNER and SYSTEM_ADMIN), so a practice's log shows what its own
    people read; the practice the data belongs to goes into the details:
    ``data_practice_id`` when it is one practice's data (a record, an appointment, a
    visit, a practice's list), ``data_practice_ids`` (sorted) when it may be several's
    (pets, owners, lists across practices)."""
    shown = _read_details(details, data_practice_id, data_practice_ids)
    return entry(actor, action, resource_id, actor.practice_id, shown, pet_id=pet_id)


def _written(
    make: Callable[P, AuditEntry],
) -> Callable[Concatenate[UnitOfWork, RequestMeta, P], None]:
    """The writer of the entries ``make`` builds: the same arguments after the unit of
    work and the request's meta; the row goes with the unit of work's commit."""

    def write(uow: UnitOfWork, meta: RequestMeta, /, *args: P.args, **kwargs: P.kwargs) -> None:
        uow.audit.record(make(*args, **kwargs), meta)

    return write


# Write one audit row (an :func:`entry`) with the unit of work's commit: every row goes
# through here, but those of the fast path's reads (their adapter stores the
# :func:`read_entry` it is handed, in the read's own transaction).
record = _written(entry)


def change_entry(
    actor: Actor,
    action: AuditAction,
    resource_id: UUID,
    practice_id: UUID | None,
    changed: list[str],
) -> AuditEntry:
    """An update's row: the names of the fields it changed (``{"fields": [...]}``)."""
    return entry(actor, action, resource_id, practice_id, {"fields": changed})


# Write an update's row (a :func:`change_entry`) with the unit of work's commit.
record_change = _written(change_entry)


class _Identified(Protocol):
    @property
    def id(self) -> UUID: ...


Changed = TypeVar("Changed", bound=_Identified)


async def save_changes(
    uow: UnitOfWork,
    meta: RequestMeta,
    actor: Actor,
    action: AuditAction,
    current: Changed,
    values: dict[str, Any],
    *,
    now: Callable[[], datetime],
    save: Callable[[Changed], Awaitable[None]],
    practice_id: UUID | None,
    **also: Any,
) -> Changed:
    """An update: ``current`` with ``values`` (and ``also``) set, saved with its
    :func:`change_entry` row in one commit. Nothing changes: ``current`` itself, and
    nothing is written (no commit)."""
    updated, changed = with_changes(current, values, now, **also)
    if changed:
        await save(updated)
        record_change(uow, meta, actor, action, current.id, practice_id, changed)
        await uow.commit()
    return updated


# Write a successful read's row (a :func:`read_entry`) with the unit of work's commit.
record_read = _written(read_entry)


class PetItem(_Identified, Protocol):
    """One practice's item of a pet's data (a medical record, a visit), as its rows name it."""

    @property
    def practice_id(self) -> UUID: ...

    @property
    def pet_id(self) -> UUID: ...


def item_entry(
    actor: Actor, action: AuditAction, item: PetItem, details: Mapping[str, object] | None = None
) -> AuditEntry:
    """The row of a change of ``item``: filed under its practice, in its pet's access log."""
    return entry(actor, action, item.id, item.practice_id, details, pet_id=item.pet_id)


def item_read_entry(
    actor: Principal,
    action: AuditAction,
    item: PetItem,
    details: Mapping[str, object] | None = None,
) -> AuditEntry:
    """The row of a read of ``item`` or of something of it (a record's attachments): the
    reader's practice, the item's in the details, its pet's access log."""
    return read_entry(
        actor, action, item.id, details, data_practice_id=item.practice_id, pet_id=item.pet_id
    )


# Write the row of a change (an :func:`item_entry`) or of a read (an
# :func:`item_read_entry`) of a pet's item with the unit of work's commit.
record_item = _written(item_entry)
record_item_read = _written(item_read_entry)


def page_entry_for(
    actor: Principal, action: AuditAction, subject_id: UUID, *, pet_id: UUID | None = None
) -> Callable[[Row], AuditEntry]:
    """The ``entry_for`` of a list read of ``subject_id``'s data: the page shown
    (:func:`seen_page`) and the practices its data belongs to (:func:`seen_practices`)."""

    def entry_for(row: Row) -> AuditEntry:
        return read_entry(
            actor,
            action,
            subject_id,
            seen_page(row),
            data_practice_ids=seen_practices(row),
            pet_id=pet_id,
        )

    return entry_for


def _read_details(
    details: Mapping[str, object] | None,
    data_practice_id: UUID | None,
    data_practice_ids: Iterable[UUID] | None,
) -> dict[str, object]:
    shown = dict(details or {})
    if data_practice_id is not None:
        shown["data_practice_id"] = str(data_practice_id)
    if data_practice_ids is not None:
        shown["data_practice_ids"] = sorted({str(p) for p in data_practice_ids})
    return shown


def seen_page(row: Row) -> dict[str, object]:
    """What a page showed, for its audit row: how many rows and their ids, in page order
    (from the first row of an audited list read, services/ports/paging.py ``SEEN_IDS``)."""
    ids = [str(found) for found in row[SEEN_IDS] or ()]
    return {"count": len(ids), "ids": ids}


def seen_practices(row: Row) -> list[UUID]:
    """The practices of the data a read returned (``SEEN_PRACTICES`` of its first row)."""
    return list(row[SEEN_PRACTICES] or ())


def care_practices(actor: Principal, row: Row) -> list[UUID]:
    """The practices a pet's or owner's data belongs to, as the reader sees it: staff
    see a client only through their own practice, so theirs (a client's other practices
    are not named in a row their practice's admins read); anyone else, the practices the
    owner is a client of (``SEEN_PRACTICES`` of the read's first row, which the adapters
    fill outside a practice's scope only)."""
    if actor.practice_id is not None:
        return [actor.practice_id]
    return seen_practices(row)


async def record_pet_read(
    uow: UnitOfWorkFactory,
    actor: Principal,
    pet_id: UUID,
    action: AuditAction,
    meta: RequestMeta,
    *,
    in_pet_log: bool = True,
) -> None:
    """A read of a pet's data (a list, the timeline, its access log): the pet must be in
    the actor's scope (404 otherwise), and the row naming the pet is committed before any
    data is read. The data's practices are those of the pet's owner
    (:func:`care_practices`), found with the scope check in one statement; the row goes
    into the pet's own access log unless ``in_pet_log`` is False."""
    async with uow() as unit:
        practices = await unit.pets.care_practices(pet_id, client_scope(actor))
        if practices is None:
            raise NotFound("Pet not found.")
        record_read(
            unit,
            meta,
            actor,
            action,
            pet_id,
            data_practice_ids=practices if actor.practice_id is None else [actor.practice_id],
            pet_id=pet_id if in_pet_log else None,
        )
        await unit.commit()


class AuditService:
    """The audit trail's own use cases: denials, the admins' search, a pet's access log."""

    def __init__(self, *, uow: UnitOfWorkFactory, queries: AuditQueries) -> None:
        self._uow = uow
        self._queries = queries

    async def denied(
        self,
        actor: Principal,
        meta: RequestMeta,
        action: AuditAction,
        resource_id: str | None,
        details: dict[str, object],
    ) -> None:
        """A refused request (403, or 404 from scope): its own short transaction, since
        the refused use case wrote nothing. The row names the path's resource."""
        async with self._uow() as uow:
            record(
                uow,
                meta,
                actor,
                action,
                resource_id,
                actor.practice_id,
                details,
                outcome=Outcome.DENIED,
            )
            await uow.commit()

    async def search(
        self, actor: Principal, filters: AuditFilters, page: PageRequest, meta: RequestMeta
    ) -> Page[AuditEvent]:
        require(actor, Action.AUDIT_SEARCH)
        scope = audit_scope(actor)
        scoped = replace(filters, practice_id=scope)
        async with self._uow() as uow:
            record(
                uow,
                meta,
                actor,
                AuditAction.AUDIT_SEARCH,
                "search",
                scope,
                {k: str(v) for k, v in vars(filters).items() if v is not None},
            )
            await uow.commit()
        return await self._queries.search(scoped, page)

    async def access_log(
        self, actor: Principal, pet_id: UUID, page: PageRequest, meta: RequestMeta
    ) -> Page[AccessLogEntry]:
        """For the pet's owner and staff in scope (anyone else: 404, as for the pet)."""
        require(actor, Action.ACCESS_LOG_READ)
        # Not in the pet's own access log: reading the log is not an access to the pet's
        # data.
        await record_pet_read(
            self._uow, actor, pet_id, AuditAction.PET_ACCESS_LOG_READ, meta, in_pet_log=False
        )
        return await self._queries.access_log(pet_id, page)
