"""An owner's lifecycle: deactivation (soft), the export of everything about them (GDPR
access), and erasure of their personal data (GDPR erasure) that keeps the medical
records, pseudonymised (domain/erasure.py; docs/owner-lifecycle.md)."""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID

from vetchart.domain.audit import RequestMeta
from vetchart.domain.audit_actions import AuditAction
from vetchart.domain.erasure import erased_owner, erased_pet, erased_user
from vetchart.domain.errors import Conflict, NotFound
from vetchart.domain.owners import OPEN_STATUSES, AssociationStatus, PetOwner
from vetchart.domain.policy import (
    Action,
    OwnerCustody,
    Principal,
    client_scope,
    require,
    staff_practice,
)
from vetchart.services.audit import record as audit
from vetchart.services.audit import record_read
from vetchart.services.invalidation import sessions_changed
from vetchart.services.ports.lifecycle import OwnerExport, OwnerExportQueries
from vetchart.services.ports.system import Clock
from vetchart.services.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory

# Why the sessions of an erased owner's account were revoked.
ERASED = "owner_erased"


class OwnerLifecycleService:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        exports: OwnerExportQueries,
        clock: Clock,
    ) -> None:
        self._uow = uow
        self._exports = exports
        self._clock = clock

    async def _custody(
        self, uow: UnitOfWork, actor: Principal, owner_id: UUID
    ) -> tuple[PetOwner, OwnerCustody]:
        """The owner in the actor's scope (404 otherwise), row-locked, and what the
        lifecycle rules read of it (its associations are locked too)."""
        owner = await uow.pet_owners.get(owner_id, client_scope(actor), for_update=True)
        if owner is None:
            raise NotFound("Pet owner not found.")
        associations = await uow.associations.for_owner(owner.id)
        own = staff_practice(actor)
        custody = OwnerCustody(
            created_by_practice_id=owner.created_by_practice_id,
            has_account=owner.user_id is not None,
            other_practices=any(
                a.status in OPEN_STATUSES and a.practice_id != own for a in associations
            ),
        )
        return owner, custody

    # ------------------------------------------------------------------ deactivation

    async def set_active(
        self, actor: Principal, owner_id: UUID, active: bool, meta: RequestMeta
    ) -> PetOwner:
        """Deactivate or reactivate (no change: 200, no row). A deactivated owner stays
        readable; it gets no new pets, associations or appointments (409). An erased
        owner is never reactivated (409)."""
        async with self._uow() as uow:
            owner, custody = await self._custody(uow, actor, owner_id)
            require(actor, Action.PET_OWNER_DEACTIVATE, custody)
            if active and owner.erased_at is not None:
                raise Conflict("An erased owner cannot be reactivated.", code="owner-erased")
            if owner.is_active == active:
                return owner
            updated = replace(owner, is_active=active, updated_at=self._clock.now())
            await uow.pet_owners.save(updated)
            action = (
                AuditAction.PET_OWNER_REACTIVATE if active else AuditAction.PET_OWNER_DEACTIVATE
            )
            audit(uow, meta, actor, action, owner.id, staff_practice(actor))
            await uow.commit()
        return updated

    # ------------------------------------------------------------------ export

    async def export(self, actor: Principal, owner_id: UUID, meta: RequestMeta) -> OwnerExport:
        """Everything about the owner and their pets. The owner themselves and SYSTEM_ADMIN
        get all of it, with the audit rows about them; a PRACTICE_ADMIN of a practice the
        owner is a client of gets that practice's view (no audit rows). The read's audit
        row is committed before the data leaves."""
        async with self._uow() as uow:
            owner = await uow.pet_owners.get(owner_id, client_scope(actor))
            if owner is None:
                raise NotFound("Pet owner not found.")
            require(actor, Action.PET_OWNER_EXPORT)
        practice_id = staff_practice(actor)
        found = await self._exports.export(
            owner.id, practice_id=practice_id, include_audit=practice_id is None
        )
        if found is None:  # pragma: no cover - erased owners stay, owners are never deleted
            raise NotFound("Pet owner not found.")
        async with self._uow() as uow:
            record_read(
                uow,
                meta,
                actor,
                AuditAction.PET_OWNER_EXPORT,
                owner.id,
                {
                    "view": "full" if practice_id is None else "practice",
                    "pets": len(found.pets),
                    "medical_records": len(found.medical_records),
                },
                data_practice_id=practice_id,
            )
            await uow.commit()
        return found

    # ------------------------------------------------------------------ erasure

    async def erase(self, actor: Principal, owner_id: UUID, meta: RequestMeta) -> PetOwner:
        """Pseudonymise the owner, their pets and their account (domain/erasure.py),
        deactivate them, revoke the account's sessions, reject the owner's pending
        associations; approved ones stay (the practices keep the records they must keep,
        under the pseudonym). Medical records, their history and the audit trail are not
        touched. Erasing an erased owner changes nothing (200, no row)."""
        async with self._uow() as uow:
            owner, custody = await self._custody(uow, actor, owner_id)
            require(actor, Action.PET_OWNER_ERASE, custody)
            if owner.erased_at is not None:
                return owner
            now = self._clock.now()
            erased = erased_owner(owner, now)
            await uow.pet_owners.save(erased)
            pets = await uow.pets.for_owner(owner.id)
            for pet in pets:
                await uow.pets.save(erased_pet(pet, now))
            rejected = 0
            for association in await uow.associations.for_owner(owner.id):
                if association.status is AssociationStatus.PENDING:
                    moved = association.move_to(
                        AssociationStatus.REJECTED, actor=actor.user_id, now=now
                    )
                    await uow.associations.save(moved)
                    rejected += 1
            blanked = await uow.messaging.erase_owner(owner.id)
            revoked: list[UUID] = []
            if owner.user_id is not None:
                account = await uow.users.get(owner.user_id, for_update=True)
                if account is not None:
                    await uow.users.save(erased_user(account, now))
                    revoked = await uow.sessions.revoke_all(account.id, now, ERASED)
            audit(
                uow,
                meta,
                actor,
                AuditAction.PET_OWNER_ERASE,
                owner.id,
                staff_practice(actor),
                {
                    "pets": len(pets),
                    "account": owner.user_id is not None,
                    "revoked_sessions": len(revoked),
                    "rejected_associations": rejected,
                    "messages_blanked": blanked,
                },
            )
            if owner.user_id is not None:
                sessions_changed(uow, owner.user_id, revoked, ERASED)
            await uow.commit()
        return erased
