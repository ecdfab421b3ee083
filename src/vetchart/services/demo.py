"""The demo data set, loaded through the same units of work as real data. Idempotent:
every object is looked up by a natural key first. Never used in production."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from vetchart.domain.owners import Association, AssociationStatus, PetOwner, RequestType
from vetchart.domain.pets import Pet, Sex
from vetchart.domain.practices import Practice
from vetchart.domain.users import Role, User
from vetchart.services.ports import Clock, IdGenerator, PasswordHasher, UnitOfWorkFactory

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


class DemoData:
    def __init__(
        self, *, uow: UnitOfWorkFactory, clock: Clock, ids: IdGenerator, hasher: PasswordHasher
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._hasher = hasher

    async def seed_identity(self) -> str:
        """Two practices and one user of every role (staff in both practices)."""
        password_hash = await self._hasher.hash(DEMO_PASSWORD)
        created_practices = created_users = 0
        async with self._uow() as uow:
            now = self._clock.now()
            practice_ids = []
            for name, timezone, license_number in DEMO_PRACTICES:
                practice = await uow.practices.get_by_name(name)
                if practice is None:
                    practice = Practice(
                        id=self._ids.new_id(),
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
                    User(
                        id=self._ids.new_id(),
                        email=demo.email,
                        full_name=demo.full_name,
                        role=demo.role,
                        practice_id=(
                            practice_ids[demo.practice_index]
                            if demo.practice_index is not None
                            else None
                        ),
                        is_active=True,
                        password_hash=password_hash,
                        mfa_enabled=False,
                        created_at=now,
                        updated_at=now,
                        password_changed_at=now,
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
        async with self._uow() as uow:
            now = self._clock.now()
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
                owner = PetOwner(
                    id=self._ids.new_id(),
                    full_name=owner_user.full_name if linked and owner_user else f"{first} {last}",
                    email=email,
                    phone=f"+44 20 7946 {index:04d}",
                    address=f"{10 + index} {STREETS[index % len(STREETS)]}",
                    created_at=now,
                    updated_at=now,
                    user_id=owner_user.id if linked and owner_user else None,
                )
                await uow.pet_owners.add(owner)
                owners_created += 1
                # Most owners belong to one practice; every fifth to both.
                homes = [index % 2] if index % 5 else [0, 1]
                for home in homes:
                    practice, manager = practices[home], managers[home]
                    assert practice is not None
                    assert manager is not None
                    await uow.associations.add(
                        Association(
                            id=self._ids.new_id(),
                            pet_owner_id=owner.id,
                            practice_id=practice.id,
                            request_type=RequestType.NEW_CLIENT,
                            status=AssociationStatus.APPROVED,
                            requested_by=manager.id,
                            created_at=now,
                            updated_at=now,
                            decided_by=manager.id,
                            decided_at=now,
                        )
                    )
                for pet_index in range(1 + (index % 3 == 0) + (index % 5 == 0)):
                    species, breed, weight = SPECIES[(index + pet_index) % len(SPECIES)]
                    await uow.pets.add(
                        Pet(
                            id=self._ids.new_id(),
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
SPECIES = (
    ("dog", "Labrador Retriever", "29.5"),
    ("cat", "Domestic Shorthair", "4.2"),
    ("dog", "Border Collie", "18.0"),
    ("rabbit", "Holland Lop", "1.8"),
    ("cat", "Maine Coon", "6.9"),
    ("bird", "Cockatiel", "0.09"),
    ("horse", "Welsh Cob", "450"),
)
