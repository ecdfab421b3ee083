"""Pets: create, read, list, update with If-Match, deactivate and reactivate."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from uuid import UUID

from vetchart.domain.audit import AuditEntry, RequestMeta
from vetchart.domain.audit_actions import AuditAction
from vetchart.domain.commands import given, with_changes
from vetchart.domain.errors import PreconditionFailed, PreconditionRequired
from vetchart.domain.pets import NewPet, Pet, PetChanges, check_pet
from vetchart.domain.policy import Action, Principal, client_scope, require
from vetchart.services.audit import care_practices, read_entry, seen_page
from vetchart.services.audit import record as audit
from vetchart.services.base import SubjectService, found
from vetchart.services.owners import visible_owner
from vetchart.services.ports.clients import ClientQueries, ClientReads, PetFilters, PetView
from vetchart.services.ports.paging import Page, PageRequest, ReadAudit, Row
from vetchart.services.ports.unit_of_work import UnitOfWork


def require_version(if_match: int | None, current: int, noun: str = "pet") -> None:
    """Optimistic concurrency: a change names the version it was based on."""
    if if_match is None:
        raise PreconditionRequired(f"Send If-Match with the {noun}'s current ETag.")
    if if_match != current:
        raise PreconditionFailed(
            f"The {noun} changed (now version {current}); reload and retry.",
            extra={"current_version": current},
        )


# The actions a read of one pet with its owner may be audited as (the JSON API's, the
# FHIR API's Patient and RelatedPerson).
PET_READS = frozenset(
    {AuditAction.PET_READ, AuditAction.FHIR_PATIENT_READ, AuditAction.FHIR_RELATED_PERSON_READ}
)


class PetService(SubjectService[ClientQueries, ClientReads]):
    """Pets: their changes, and their audited reads on the fast path."""

    def _today(self) -> date:
        return self._clock.now().date()

    async def create(
        self, actor: Principal, owner_id: UUID, new: NewPet, meta: RequestMeta
    ) -> PetView:
        require(actor, Action.PET_CREATE)
        now = self._clock.now()
        pet = Pet(
            id=self._ids.new_id(), owner_id=owner_id, created_at=now, updated_at=now, **given(new)
        )
        check_pet(pet, today=self._today())
        async with self._uow() as uow:
            owner = await visible_owner(uow, actor, owner_id)
            owner.require_active()
            await uow.pets.add(pet)
            audit(
                uow,
                meta,
                actor,
                AuditAction.PET_CREATE,
                pet.id,
                actor.practice_id,
                {"owner_id": str(owner_id)},
                pet_id=pet.id,
            )
            await uow.commit()
        return PetView(pet=pet, owner=owner)

    async def get(
        self,
        actor: Principal,
        pet_id: UUID,
        meta: RequestMeta,
        action: AuditAction = AuditAction.PET_READ,
    ) -> Row:
        """The pet with its owner; its audit row (``action``: ``pet.read``, or the FHIR
        API's reads of the same row) committed first (in the pet's access log)."""
        if action not in PET_READS:
            raise ValueError(f"{action.name} is not a read of a pet")
        require(actor, Action.PET_READ)

        def entry_for(row: Row) -> AuditEntry:
            return read_entry(
                actor,
                action,
                row["id"],
                {"owner_id": str(row["owner_id"])},
                data_practice_ids=care_practices(actor, row),
                pet_id=row["id"],
            )

        return found(
            await self._reads.pet(client_scope(actor), pet_id, ReadAudit(entry_for, meta)), "Pet"
        )

    async def list(
        self, actor: Principal, filters: PetFilters, page: PageRequest, meta: RequestMeta
    ) -> Page[Row]:
        """A page of pets; its ``pet.list`` audit row (the filters, the pets shown) is
        committed first, an empty page's too."""
        require(actor, Action.PET_READ)
        asked: dict[str, object] = {
            name: str(value)
            for name, value in (
                ("owner_id", filters.owner_id),
                ("species", filters.species),
                ("q", filters.q),
            )
            if value is not None
        }
        if filters.include_inactive:
            asked["include_inactive"] = True

        def entry_for(row: Row) -> AuditEntry:
            return read_entry(
                actor,
                AuditAction.PET_LIST,
                None,
                {**asked, **seen_page(row)},
                data_practice_ids=care_practices(actor, row),
            )

        return await self._reads.pets_page(
            client_scope(actor), filters, page, ReadAudit(entry_for, meta)
        )

    async def update(
        self,
        actor: Principal,
        pet_id: UUID,
        changes: PetChanges,
        if_match: int | None,
        meta: RequestMeta,
    ) -> Pet:
        async with self._uow() as uow:
            pet = await _locked_pet(uow, actor, pet_id, Action.PET_UPDATE)
            require_version(if_match, pet.version)
            updated, changed = with_changes(
                pet, given(changes), self._clock.now, version=pet.version + 1
            )
            if not changed:
                return pet
            check_pet(updated, today=self._today())
            await uow.pets.save(updated)
            audit(
                uow,
                meta,
                actor,
                AuditAction.PET_UPDATE,
                pet.id,
                actor.practice_id,
                {"fields": changed, "version": updated.version},
                pet_id=pet.id,
            )
            await uow.commit()
        return updated

    async def set_active(
        self, actor: Principal, pet_id: UUID, active: bool, meta: RequestMeta
    ) -> Pet:
        async with self._uow() as uow:
            pet = await _locked_pet(uow, actor, pet_id, Action.PET_DEACTIVATE)
            if pet.is_active == active:
                return pet
            updated = replace(
                pet, is_active=active, updated_at=self._clock.now(), version=pet.version + 1
            )
            await uow.pets.save(updated)
            action = AuditAction.PET_REACTIVATE if active else AuditAction.PET_DEACTIVATE
            audit(uow, meta, actor, action, pet.id, actor.practice_id, pet_id=pet.id)
            await uow.commit()
        return updated


async def _locked_pet(uow: UnitOfWork, actor: Principal, pet_id: UUID, action: Action) -> Pet:
    """The pet, row-locked, for a change (``action``): out of the actor's scope it does
    not exist (404); in scope without the permission, 403."""
    pet = found(await uow.pets.get(pet_id, client_scope(actor), for_update=True), "Pet")
    require(actor, action)
    return pet
