"""Pet owners (clients) and their associations with practices."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from uuid import UUID

from vetchart.domain.audit import RequestMeta
from vetchart.domain.errors import Conflict, Forbidden, NotFound, RuleViolation
from vetchart.domain.owners import (
    OWNER_EDITABLE_FIELDS,
    Association,
    AssociationStatus,
    PetOwner,
    RequestType,
)
from vetchart.domain.policy import (
    Action,
    Principal,
    authorize,
    client_scope,
    practice_exists_for,
    require_practice_member,
)
from vetchart.domain.users import STAFF_ROLES, Role, normalize_email, normalize_full_name
from vetchart.services.audit import record as audit
from vetchart.services.ports import (
    AssociationView,
    ClientQueries,
    Clock,
    IdGenerator,
    Page,
    PageRequest,
    UnitOfWork,
    UnitOfWorkFactory,
)

DECISIONS = {
    "approve": AssociationStatus.APPROVED,
    "reject": AssociationStatus.REJECTED,
    "deactivate": AssociationStatus.INACTIVE,
}


def _checked_owner_values(values: dict[str, Any]) -> dict[str, Any]:
    unknown = set(values) - set(OWNER_EDITABLE_FIELDS)
    if unknown:
        raise RuleViolation(f"Unknown fields: {sorted(unknown)}.", rule="pet_owner.unknown_fields")
    checked = dict(values)
    if "full_name" in checked:
        checked["full_name"] = normalize_full_name(str(checked["full_name"] or ""))
    if checked.get("email"):
        checked["email"] = normalize_email(checked["email"])
    for key in ("phone", "address"):
        if key in checked and isinstance(checked[key], str):
            checked[key] = checked[key].strip() or None
    return checked


class OwnerService:
    def __init__(
        self, *, uow: UnitOfWorkFactory, queries: ClientQueries, clock: Clock, ids: IdGenerator
    ) -> None:
        self._uow = uow
        self._queries = queries
        self._clock = clock
        self._ids = ids

    # ------------------------------------------------------------------ owners

    async def create(self, actor: Principal, values: dict[str, Any], meta: RequestMeta) -> PetOwner:
        """Staff: a client of their practice (association approved at once).
        PET_OWNER: their own profile, once, linked to their account."""
        authorize(actor, Action.PET_OWNER_CREATE)
        checked = _checked_owner_values(values)
        if "full_name" not in checked:
            raise RuleViolation(
                "The full name is required.", rule="full_name.required", field="full_name"
            )
        now = self._clock.now()
        owner = PetOwner(
            id=self._ids.new_id(),
            created_at=now,
            updated_at=now,
            user_id=actor.user_id if actor.role is Role.PET_OWNER else None,
            **checked,
        )
        async with self._uow() as uow:
            if actor.role is Role.PET_OWNER and await uow.pet_owners.get_by_user(actor.user_id):
                raise Conflict("You already have an owner profile.", code="owner-profile-exists")
            await uow.pet_owners.add(owner)
            practice_id = actor.practice_id if actor.role in STAFF_ROLES else None
            if practice_id is not None:
                association = Association(
                    id=self._ids.new_id(),
                    pet_owner_id=owner.id,
                    practice_id=practice_id,
                    request_type=RequestType.NEW_CLIENT,
                    status=AssociationStatus.APPROVED,
                    requested_by=actor.user_id,
                    created_at=now,
                    updated_at=now,
                    decided_by=actor.user_id,
                    decided_at=now,
                )
                await uow.associations.add(association)
            audit(uow, meta, actor, "pet_owner.create", "pet_owner", owner.id, practice_id)
            await uow.commit()
        return owner

    async def get(self, actor: Principal, owner_id: UUID, meta: RequestMeta) -> PetOwner:
        authorize(actor, Action.PET_OWNER_READ)
        async with self._uow() as uow:
            owner = await self._visible(uow, actor, owner_id)
        return owner

    async def list(self, actor: Principal, q: str | None, page: PageRequest) -> Page[PetOwner]:
        authorize(actor, Action.PET_OWNER_READ)
        return await self._queries.owners_page(client_scope(actor), q, page)

    async def update(
        self, actor: Principal, owner_id: UUID, changes: dict[str, Any], meta: RequestMeta
    ) -> PetOwner:
        async with self._uow() as uow:
            owner = await self._visible(uow, actor, owner_id, for_update=True)
            authorize(actor, Action.PET_OWNER_UPDATE)
            checked = _checked_owner_values(changes)
            if "full_name" in checked and checked["full_name"] is None:
                raise RuleViolation(
                    "The full name is required.", rule="full_name.required", field="full_name"
                )
            changed = sorted(k for k, v in checked.items() if getattr(owner, k) != v)
            if not changed:
                return owner
            updated = replace(owner, **checked, updated_at=self._clock.now())
            await uow.pet_owners.save(updated)
            audit(
                uow,
                meta,
                actor,
                "pet_owner.update",
                "pet_owner",
                owner.id,
                actor.practice_id,
                {"fields": changed},
            )
            await uow.commit()
        return updated

    async def _visible(
        self, uow: UnitOfWork, actor: Principal, owner_id: UUID, *, for_update: bool = False
    ) -> PetOwner:
        owner = await uow.pet_owners.get(owner_id, client_scope(actor), for_update=for_update)
        if owner is None:
            raise NotFound("Pet owner not found.")
        return owner

    # ------------------------------------------------------------------ associations

    async def request_association(
        self,
        actor: Principal,
        *,
        pet_owner_id: UUID,
        practice_id: UUID,
        request_type: RequestType,
        meta: RequestMeta,
    ) -> Association:
        """PET_OWNER for themselves (pending); staff for their own practice (approved)."""
        authorize(actor, Action.ASSOCIATION_CREATE)
        is_staff = actor.role in STAFF_ROLES
        if is_staff and actor.practice_id != practice_id:
            raise Forbidden(
                "Staff can associate clients with their own practice only.",
                extra={"action": Action.ASSOCIATION_CREATE.value},
            )
        async with self._uow() as uow:
            if is_staff:
                # Staff may link any existing client to their practice by its id (a
                # referral or transfer), but learn nothing else about it.
                if not await uow.pet_owners.exists(pet_owner_id):
                    raise NotFound("Pet owner not found.")
            else:
                await self._visible(uow, actor, pet_owner_id)
            practice = await uow.practices.get(practice_id)
            if practice is None or not practice.is_active:
                raise NotFound("Practice not found.")
            if (
                not is_staff
                and request_type is RequestType.NEW_CLIENT
                and not practice.accepts_new_patients
            ):
                raise Conflict(
                    "This practice is not accepting new patients.",
                    code="practice-not-accepting-new-patients",
                )
            now = self._clock.now()
            association = Association(
                id=self._ids.new_id(),
                pet_owner_id=pet_owner_id,
                practice_id=practice_id,
                request_type=request_type,
                status=AssociationStatus.APPROVED if is_staff else AssociationStatus.PENDING,
                requested_by=actor.user_id,
                created_at=now,
                updated_at=now,
                decided_by=actor.user_id if is_staff else None,
                decided_at=now if is_staff else None,
            )
            await uow.associations.add(association)
            audit(
                uow,
                meta,
                actor,
                "association.create",
                "association",
                association.id,
                practice_id,
                {"status": association.status.value, "request_type": request_type.value},
            )
            await uow.commit()
        return association

    async def decide(
        self, actor: Principal, association_id: UUID, decision: str, meta: RequestMeta
    ) -> Association:
        """approve / reject / deactivate, along the workflow's edges only (else 409)."""
        target = DECISIONS[decision]
        async with self._uow() as uow:
            association = await uow.associations.get(association_id, for_update=True)
            if association is None or not await self._sees_association(uow, actor, association):
                raise NotFound("Association not found.")
            require_practice_member(actor, association.practice_id, Action.ASSOCIATION_DECIDE)
            moved = association.move_to(target, actor=actor.user_id, now=self._clock.now())
            await uow.associations.save(moved)
            audit(
                uow,
                meta,
                actor,
                f"association.{decision}",
                "association",
                association.id,
                association.practice_id,
                {"from": association.status.value, "to": moved.status.value},
            )
            await uow.commit()
        return moved

    @staticmethod
    async def _sees_association(
        uow: UnitOfWork, actor: Principal, association: Association
    ) -> bool:
        """Staff see their practice's associations; an owner sees their own (listed under
        /pet-owners/{id}/associations), so deciding one is 403 for them, not 404."""
        if actor.role is Role.SYSTEM_ADMIN:
            return True
        if actor.role in STAFF_ROLES:
            return actor.practice_id == association.practice_id
        owner = await uow.pet_owners.get(association.pet_owner_id, client_scope(actor))
        return owner is not None

    async def practice_associations(
        self,
        actor: Principal,
        practice_id: UUID,
        status: AssociationStatus | None,
        page: PageRequest,
    ) -> Page[AssociationView]:
        async with self._uow() as uow:
            practice_exists_for(actor, await uow.practices.get(practice_id))
        require_practice_member(actor, practice_id, Action.ASSOCIATION_LIST)
        return await self._queries.associations_page(
            practice_id=practice_id, owner_id=None, status=status, page=page
        )

    async def owner_associations(
        self, actor: Principal, owner_id: UUID, page: PageRequest
    ) -> Page[AssociationView]:
        authorize(actor, Action.PET_OWNER_READ)
        async with self._uow() as uow:
            await self._visible(uow, actor, owner_id)
        # Staff see the owner's associations with their own practice only.
        practice_id = actor.practice_id if actor.role in STAFF_ROLES else None
        return await self._queries.associations_page(
            practice_id=practice_id, owner_id=owner_id, status=None, page=page
        )
