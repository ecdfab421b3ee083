"""The one helper services use to record what an actor did (same transaction as the change)."""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID

from vetchart.domain.audit import AuditEntry, Outcome, RequestMeta
from vetchart.domain.errors import NotFound
from vetchart.domain.policy import Action, Principal, audit_scope, authorize, client_scope
from vetchart.services.ports import (
    AccessLogEntry,
    AuditEventView,
    AuditFilters,
    AuditQueries,
    Page,
    PageRequest,
    UnitOfWork,
    UnitOfWorkFactory,
)


def entry(
    actor: Principal,
    action: str,
    resource_type: str,
    resource_id: UUID | str,
    practice_id: UUID | None,
    details: dict[str, object] | None = None,
    *,
    outcome: Outcome = Outcome.SUCCESS,
    pet_id: UUID | None = None,
) -> AuditEntry:
    """What one audit row says the actor did (the adapters add time, request and chain)."""
    return AuditEntry(
        action=action,
        resource_type=resource_type,
        resource_id=str(resource_id),
        outcome=outcome,
        actor_id=actor.user_id,
        actor_role=actor.role.value,
        practice_id=practice_id,
        details=dict(details or {}),
        pet_id=pet_id,
    )


def record(
    uow: UnitOfWork,
    meta: RequestMeta,
    actor: Principal,
    action: str,
    resource_type: str,
    resource_id: UUID | str,
    practice_id: UUID | None,
    details: dict[str, object] | None = None,
    *,
    outcome: Outcome = Outcome.SUCCESS,
    pet_id: UUID | None = None,
) -> None:
    uow.audit.record(
        entry(
            actor,
            action,
            resource_type,
            resource_id,
            practice_id,
            details,
            outcome=outcome,
            pet_id=pet_id,
        ),
        meta,
    )


async def record_pet_read(
    uow: UnitOfWorkFactory, actor: Principal, pet_id: UUID, action: str, meta: RequestMeta
) -> None:
    """A read of a pet's medical data (a list, the timeline): the pet must be in the
    actor's scope (404 otherwise), and the row naming the pet is committed before any
    data is read."""
    async with uow() as unit:
        if await unit.pets.get(pet_id, client_scope(actor)) is None:
            raise NotFound("Pet not found.")
        record(unit, meta, actor, action, "pet", pet_id, actor.practice_id, pet_id=pet_id)
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
        action: str,
        resource_type: str,
        resource_id: str | None,
        details: dict[str, object],
    ) -> None:
        """A refused request (403, or 404 from scope): its own short transaction, since
        the refused use case wrote nothing."""
        async with self._uow() as uow:
            uow.audit.record(
                AuditEntry(
                    action=action,
                    resource_type=resource_type,
                    resource_id=resource_id,
                    outcome=Outcome.DENIED,
                    actor_id=actor.user_id,
                    actor_role=actor.role.value,
                    practice_id=actor.practice_id,
                    details=dict(details),
                ),
                meta,
            )
            await uow.commit()

    async def search(
        self, actor: Principal, filters: AuditFilters, page: PageRequest, meta: RequestMeta
    ) -> Page[AuditEventView]:
        scope = audit_scope(actor)
        scoped = replace(filters, practice_id=scope)
        async with self._uow() as uow:
            record(
                uow,
                meta,
                actor,
                "audit.read",
                "audit_event",
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
        authorize(actor, Action.ACCESS_LOG_READ)
        async with self._uow() as uow:
            if await uow.pets.get(pet_id, client_scope(actor)) is None:
                raise NotFound("Pet not found.")
            record(uow, meta, actor, "audit.read", "pet", pet_id, actor.practice_id)
            await uow.commit()
        return await self._queries.access_log(pet_id, page)
