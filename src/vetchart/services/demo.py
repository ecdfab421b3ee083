"""The demo data set, loaded through the same units of work as real data. Idempotent:
every object is looked up by a natural key first. Never used in production."""

from __future__ import annotations

from dataclasses import dataclass

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
