"""The demo data set, loaded through the same units of work as real data. Idempotent:
every object is looked up by a natural key first. Never used in production."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from vetchart.domain.owners import (
    Association,
    AssociationStatus,
    ConsentParty,
    PetOwner,
)
from vetchart.domain.pets import Pet, Sex
from vetchart.domain.policy import ClientScope
from vetchart.domain.practices import Practice
from vetchart.domain.records import (
    MedicalRecord,
    PetFacts,
    RecordChanges,
    RecordContent,
    RecordType,
)
from vetchart.domain.users import Role, User
from vetchart.services.demo_parts import DemoSeeder
from vetchart.services.ports.clients import PetFilters
from vetchart.services.ports.identity import PasswordHasher
from vetchart.services.ports.paging import PageRequest

# Documented in the README, for local use only.
DEMO_PASSWORD = "otter-lantern-meadow-river-42"  # noqa: S105

DEMO_PRACTICES = (
    ("Riverside Animal Clinic", "Europe/London", "RAC-1001"),
    ("Hillcrest Veterinary Hospital", "America/New_York", "HVH-2002"),
)


@dataclass(frozen=True)
class DemoUser:
    email: str
    full_name: str
    role: Role
    practice_index: int | None


DEMO_USERS = (
    DemoUser("admin@vetchart.local", "Sam Operator", Role.SYSTEM_ADMIN, None),
    DemoUser("manager@riverside.vetchart.local", "Priya Manager", Role.PRACTICE_ADMIN, 0),
    DemoUser("vet@riverside.vetchart.local", "Dr. Jonah Vet", Role.VET, 0),
    DemoUser("tech@riverside.vetchart.local", "Mia Technician", Role.VET_STAFF, 0),
    DemoUser("manager@hillcrest.vetchart.local", "Omar Manager", Role.PRACTICE_ADMIN, 1),
    DemoUser("vet@hillcrest.vetchart.local", "Dr. Lena Vet", Role.VET, 1),
    DemoUser("tech@hillcrest.vetchart.local", "Theo Technician", Role.VET_STAFF, 1),
    DemoUser("owner@vetchart.local", "Riley Owner", Role.PET_OWNER, None),
)


@dataclass(kw_only=True)
class DemoData(DemoSeeder):
    hasher: PasswordHasher

    async def seed_identity(self) -> str:
        """Two practices and one user of every role (staff in both practices)."""
        password_hash = await self.hasher.hash(DEMO_PASSWORD)
        created_practices = created_users = 0
        async with self.uow() as uow:
            now = self.clock.now()
            practice_ids = []
            for name, timezone, license_number in DEMO_PRACTICES:
                practice = await uow.practices.get_by_name(name)
                if practice is None:
                    practice = Practice(
                        id=self.ids.new_id(),
                        name=name,
                        timezone=timezone,
                        license_number=license_number,
                        email=f"hello@{name.split()[0].lower()}.vetchart.local",
                        created_at=now,
                        updated_at=now,
                    )
                    await uow.practices.add(practice)
                    created_practices += 1
                practice_ids.append(practice.id)
            for demo in DEMO_USERS:
                if await uow.users.get_by_email(demo.email) is not None:
                    continue
                await uow.users.add(
                    User.new(
                        id=self.ids.new_id(),
                        email=demo.email,
                        full_name=demo.full_name,
                        role=demo.role,
                        practice_id=(
                            practice_ids[demo.practice_index]
                            if demo.practice_index is not None
                            else None
                        ),
                        password_hash=password_hash,
                        now=now,
                    )
                )
                created_users += 1
            await uow.commit()
        return (
            f"identity: {created_practices} practices and {created_users} users created "
            f"({len(DEMO_PRACTICES)} practices, {len(DEMO_USERS)} users in the demo set)"
        )

    async def seed_clients(self) -> str:
        """About 50 owners with 80 pets; some owners are clients of both practices, and
        the demo PET_OWNER account has its own profile and pets."""
        owners_created = pets_created = 0
        async with self.uow() as uow:
            now = self.clock.now()
            practices = [await uow.practices.get_by_name(name) for name, _, _ in DEMO_PRACTICES]
            managers = [
                await uow.users.get_by_email(email)
                for email in (
                    "manager@riverside.vetchart.local",
                    "manager@hillcrest.vetchart.local",
                )
            ]
            owner_user = await uow.users.get_by_email("owner@vetchart.local")
            if any(p is None for p in practices) or any(m is None for m in managers):
                return "clients: skipped (identity demo data missing)"
            for index in range(DEMO_OWNER_COUNT):
                first = FIRST_NAMES[index % len(FIRST_NAMES)]
                last = LAST_NAMES[(index * 7) % len(LAST_NAMES)]
                email = f"{first.lower()}.{last.lower()}{index:02d}@example.com"
                linked = owner_user is not None and index == 0
                if linked:
                    assert owner_user is not None
                    email = owner_user.email
                if await uow.pet_owners.find_by_email(email) is not None:
                    continue
                # Most owners belong to one practice; every fifth to both.
                homes = [index % 2] if index % 5 else [0, 1]
                home_practice = practices[homes[0]]
                assert home_practice is not None
                owner = PetOwner(
                    id=self.ids.new_id(),
                    full_name=owner_user.full_name if linked and owner_user else f"{first} {last}",
                    email=email,
                    phone=f"+44 20 7946 {index:04d}",
                    address=f"{10 + index} {STREETS[index % len(STREETS)]}",
                    created_at=now,
                    updated_at=now,
                    user_id=owner_user.id if linked and owner_user else None,
                    # The demo PET_OWNER's profile is their own; the others were created
                    # by their (first) practice's front desk.
                    created_by_practice_id=None if linked else home_practice.id,
                )
                await uow.pet_owners.add(owner)
                owners_created += 1
                for home in homes:
                    practice, manager = practices[home], managers[home]
                    assert practice is not None
                    assert manager is not None
                    # The demo PET_OWNER was asked by each practice and consented (the
                    # practice's request, approved by the owner's account). The others
                    # are linked as a practice links its own clients (approved at once);
                    # the second practice of a shared one stands for a link made before
                    # consent was asked for, as the migration leaves those.
                    association = Association.new(
                        id=self.ids.new_id(),
                        pet_owner_id=owner.id,
                        practice_id=practice.id,
                        by=manager.id,
                        now=now,
                        awaiting=ConsentParty.OWNER if linked else None,
                    )
                    if linked and owner_user:
                        association = association.move_to(
                            AssociationStatus.APPROVED, actor=owner_user.id, now=now
                        )
                    await uow.associations.add(association)
                for pet_index in range(1 + (index % 3 == 0) + (index % 5 == 0)):
                    species, breed, weight = SPECIES[(index + pet_index) % len(SPECIES)]
                    await uow.pets.add(
                        Pet(
                            id=self.ids.new_id(),
                            owner_id=owner.id,
                            name=PET_NAMES[(index * 3 + pet_index) % len(PET_NAMES)],
                            species=species,
                            breed=breed,
                            sex=(Sex.FEMALE, Sex.MALE)[(index + pet_index) % 2],
                            date_of_birth=date(2015, 1, 1) + timedelta(days=97 * index + pet_index),
                            weight_kg=Decimal(weight),
                            microchip_id=f"DEMO{index:03d}{pet_index:02d}",
                            neutered=(index + pet_index) % 3 != 0,
                            created_at=now,
                            updated_at=now,
                        )
                    )
                    pets_created += 1
            await uow.commit()
        return f"clients: {owners_created} owners and {pets_created} pets created"

    async def seed_records(self) -> str:
        """A few records per Riverside demo pet (a few hundred in all), some amended, one
        entered in error, several follow-ups due. Pets that have records are left alone."""
        async with self.uow() as uow:
            riverside = await uow.practices.get_by_name(DEMO_PRACTICES[0][0])
            vet = await uow.users.get_by_email("vet@riverside.vetchart.local")
            tech = await uow.users.get_by_email("tech@riverside.vetchart.local")
        if riverside is None or vet is None or tech is None:
            return "records: skipped (identity demo data missing)"
        page = await self.clients.pets_page(
            ClientScope(practice_id=riverside.id), PetFilters(), PageRequest(limit=200)
        )
        created = amended = 0
        erroneous = False
        today = self.clock.now().date()
        for pet_index, view in enumerate(page.items):
            pet = view.pet
            facts = PetFacts(pet.id, pet.species, pet.date_of_birth, pet.is_active)
            async with self.uow() as uow:
                if await uow.records.any_for_pet(pet.id):
                    continue
                for n in range(4 + pet_index % 3):
                    visit = today - timedelta(days=30 * (n + 1) + pet_index)
                    if pet.date_of_birth is not None and visit < pet.date_of_birth:
                        continue
                    kind, title, data, medications = DEMO_RECORD_KINDS[(pet_index + n) % 4]
                    follow_up = n == 0 and pet_index % 4 == 0
                    content = RecordContent(
                        record_type=kind,
                        title=title,
                        visit_date=visit,
                        description=f"{title} for {pet.name}.",
                        medications=medications,
                        weight_kg=pet.weight_kg,
                        temperature_c=DEMO_TEMPERATURES.get(pet.species),
                        cost=Decimal("45.00") + n * 10,
                        follow_up_required=follow_up,
                        # Due already (within the last fortnight) or soon.
                        follow_up_date=visit + timedelta(days=14 + pet_index % 30)
                        if follow_up
                        else None,
                        data=data,
                    )
                    author = tech if n % 2 else vet
                    record = MedicalRecord.create(
                        record_id=self.ids.new_id(),
                        pet=facts,
                        practice_id=riverside.id,
                        author_id=author.id,
                        content=content,
                        now=self.clock.now(),
                    )
                    if n == 1:
                        record.amend(
                            changes=RecordChanges(
                                diagnosis="Healthy; weight stable.",
                                amendment_reason="Added the diagnosis after review",
                            ),
                            pet=facts,
                            actor_id=vet.id,
                            now=self.clock.now(),
                            auto_finalise_after=timedelta(hours=24),
                        )
                        amended += 1
                    if not erroneous and n == 2:
                        record.mark_entered_in_error(
                            actor_id=vet.id,
                            reason="Recorded on the wrong pet",
                            now=self.clock.now(),
                        )
                        erroneous = True
                    await uow.records.add(record)
                    created += 1
                await uow.commit()
        return (
            f"records: {created} created ({amended} amended, "
            f"{1 if erroneous else 0} entered in error)"
        )


DEMO_OWNER_COUNT = 50
FIRST_NAMES = (
    "Ava",
    "Noah",
    "Isla",
    "Leo",
    "Maya",
    "Ethan",
    "Zara",
    "Finn",
    "Ruby",
    "Omar",
    "Lucia",
    "Kai",
    "Nora",
    "Arjun",
    "Elsa",
    "Mateo",
    "Ines",
    "Theo",
    "Amara",
    "Hugo",
)
LAST_NAMES = (
    "Patel",
    "Smith",
    "Okafor",
    "Nguyen",
    "Garcia",
    "Kowalski",
    "Brown",
    "Haddad",
    "Jensen",
    "Rossi",
    "Tanaka",
    "Murphy",
    "Silva",
    "Novak",
    "Ahmed",
    "Walker",
)
STREETS = ("Mill Lane", "High Street", "Station Road", "Church Walk", "Orchard Close")
PET_NAMES = (
    "Biscuit",
    "Luna",
    "Max",
    "Pepper",
    "Milo",
    "Willow",
    "Shadow",
    "Hazel",
    "Oscar",
    "Poppy",
    "Ziggy",
    "Bramble",
    "Clover",
    "Juniper",
    "Pickle",
    "Rolo",
    "Sage",
    "Toffee",
)
DEMO_RECORD_KINDS: tuple[tuple[RecordType, str, dict[str, Any], str | None], ...] = (
    (RecordType.CHECKUP, "Annual health check", {}, None),
    (RecordType.VACCINATION, "Booster vaccination", {"vaccine_name": "DHPPi"}, None),
    (RecordType.PRESCRIPTION, "Skin irritation", {}, "Apoquel 16 mg, once daily"),
    (RecordType.DENTAL, "Dental scale and polish", {}, None),
)
DEMO_TEMPERATURES = {
    "dog": Decimal("38.6"),
    "cat": Decimal("38.4"),
    "rabbit": Decimal("39.0"),
    "horse": Decimal("37.8"),
    "bird": Decimal("41.0"),
}
SPECIES = (
    ("dog", "Labrador Retriever", "29.5"),
    ("cat", "Domestic Shorthair", "4.2"),
    ("dog", "Border Collie", "18.0"),
    ("rabbit", "Holland Lop", "1.8"),
    ("cat", "Maine Coon", "6.9"),
    ("bird", "Cockatiel", "0.09"),
    ("horse", "Welsh Cob", "450"),
)
