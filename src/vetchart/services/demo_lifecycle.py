"""Demo data of invitation management and the owner lifecycle (docs/owner-lifecycle.md),
for `make run`: a pending and a revoked invitation at Riverside, a deactivated Riverside
client, and an erased one whose pet keeps its medical record. Idempotent (natural keys:
the invitations' fixed demo tokens, the clients' fixed ids). Never used in production."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from uuid import UUID

from vetchart.domain.erasure import erased_owner, erased_pet
from vetchart.domain.owners import Association, PetOwner
from vetchart.domain.pets import Pet
from vetchart.domain.records import MedicalRecord, PetFacts, RecordContent, RecordType
from vetchart.domain.users import Role
from vetchart.services.auth.base import token_digest
from vetchart.services.ports.identity import Invitation
from vetchart.services.ports.system import Clock, IdGenerator
from vetchart.services.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory

RIVERSIDE = "Riverside Animal Clinic"
MANAGER = "manager@riverside.vetchart.local"
VET = "vet@riverside.vetchart.local"
# Local demo tokens (documented in docs/owner-lifecycle.md): the pending one can be
# accepted with POST /invitations/accept; the revoked one answers 410.
DEMO_INVITATIONS = (
    ("demo-invitation-pending-riverside", "new.nurse@example.com", Role.VET_STAFF, False),
    ("demo-invitation-revoked-riverside", "changed.mind@example.com", Role.VET, True),
)
DORMANT_OWNER_ID = UUID("01930000-0000-7000-8000-00000000d0a1")
ERASED_OWNER_ID = UUID("01930000-0000-7000-8000-00000000e4a5")


class DemoLifecycle:
    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock, ids: IdGenerator) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids

    async def seed(self) -> str:
        async with self._uow() as uow:
            riverside = await uow.practices.get_by_name(RIVERSIDE)
            manager = await uow.users.get_by_email(MANAGER)
            vet = await uow.users.get_by_email(VET)
            if riverside is None or manager is None or vet is None:
                return "lifecycle: skipped (identity demo data missing)"
            now = self._clock.now()
            invitations = 0
            for token, email, role, revoked in DEMO_INVITATIONS:
                if await uow.invitations.get_by_token_hash(token_digest(token)) is not None:
                    continue
                invitation = Invitation(
                    id=self._ids.new_id(),
                    practice_id=riverside.id,
                    email=email,
                    role=role,
                    token_hash=token_digest(token),
                    invited_by=manager.id,
                    created_at=now,
                    expires_at=now + timedelta(days=7),
                )
                await uow.invitations.add(invitation)
                if revoked:
                    await uow.invitations.mark_revoked(invitation.id, manager.id, now)
                invitations += 1
            owners = 0
            if await uow.pet_owners.get_unscoped(DORMANT_OWNER_ID) is None:
                await self._client(uow, DORMANT_OWNER_ID, "Dana Dormant", riverside.id, manager.id)
                dormant = await uow.pet_owners.get_unscoped(DORMANT_OWNER_ID)
                assert dormant is not None
                await uow.pet_owners.save(replace(dormant, is_active=False, updated_at=now))
                owners += 1
            if await uow.pet_owners.get_unscoped(ERASED_OWNER_ID) is None:
                await self._erased_client(uow, riverside.id, manager.id, vet.id)
                owners += 1
            await uow.commit()
        return f"lifecycle: {invitations} invitations, {owners} owners (deactivated, erased)"

    async def _client(
        self, uow: UnitOfWork, owner_id: UUID, name: str, practice_id: UUID, by: UUID
    ) -> PetOwner:
        now = self._clock.now()
        owner = PetOwner(
            id=owner_id,
            full_name=name,
            email=f"{name.lower().replace(' ', '.')}@example.com",
            phone="+44 20 7946 0958",
            address="1 Demo Lane, London",
            created_at=now,
            updated_at=now,
            created_by_practice_id=practice_id,
        )
        await uow.pet_owners.add(owner)
        await uow.associations.add(
            Association.new(
                id=self._ids.new_id(),
                pet_owner_id=owner.id,
                practice_id=practice_id,
                by=by,
                now=now,
            )
        )
        return owner

    async def _erased_client(
        self, uow: UnitOfWork, practice_id: UUID, manager_id: UUID, vet_id: UUID
    ) -> None:
        """A client with a pet and a record, then erased as the service erases one."""
        now = self._clock.now()
        owner = await self._client(uow, ERASED_OWNER_ID, "Ellis Erased", practice_id, manager_id)
        pet = Pet(
            id=self._ids.new_id(),
            owner_id=owner.id,
            name="Juniper",
            species="cat",
            microchip_id="985141000999001",
            notes="Prefers the quiet room.",
            created_at=now,
            updated_at=now,
        )
        await uow.pets.add(pet)
        record = MedicalRecord.create(
            record_id=self._ids.new_id(),
            pet=PetFacts(pet.id, pet.species, pet.date_of_birth, True),
            practice_id=practice_id,
            author_id=vet_id,
            content=RecordContent(
                record_type=RecordType.CHECKUP,
                title="Annual check-up",
                visit_date=now.date() - timedelta(days=60),
                weight_kg=Decimal("4.2"),
            ),
            now=now,
        )
        await uow.records.add(record)
        await uow.pet_owners.save(erased_owner(owner, now))
        await uow.pets.save(erased_pet(pet, now))
