"""Building a new user account: the one place where email, name and password rules meet
the hasher (signup, invitations and the admin command all come through here)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from vetchart.domain.errors import Conflict
from vetchart.domain.passwords import GuessabilityCheck
from vetchart.domain.users import NewAccount, Role, User, check_role_practice
from vetchart.services.passwords import validate_new_password
from vetchart.services.ports.identity import PasswordHasher
from vetchart.services.ports.system import Clock, IdGenerator
from vetchart.services.ports.unit_of_work import UnitOfWork


@dataclass(frozen=True, kw_only=True)
class AccountMaker:
    """Makes valid, not yet stored users from :class:`NewAccount` commands."""

    ids: IdGenerator
    clock: Clock
    hasher: PasswordHasher
    guessability: GuessabilityCheck

    async def new(
        self, account: NewAccount, *, role: Role, practice_id: UUID | None = None
    ) -> User:
        """The account's user (hashed outside any unit of work); ``RuleViolation`` names
        the first rule broken."""
        check_role_practice(role, practice_id)
        password = await validate_new_password(
            account.password, email=account.email, guessability=self.guessability
        )
        password_hash = await self.hasher.hash(password)
        now = self.clock.now()
        return User.new(
            id=self.ids.new_id(),
            email=account.email,
            full_name=account.full_name,
            role=role,
            practice_id=practice_id,
            password_hash=password_hash,
            now=now,
        )


async def new_account(
    *,
    email: str,
    full_name: str,
    password: str,
    role: Role,
    practice_id: UUID | None,
    ids: IdGenerator,
    clock: Clock,
    hasher: PasswordHasher,
    guessability: GuessabilityCheck,
) -> User:
    """A valid, not yet stored user from loose values (an accepted invitation)."""
    maker = AccountMaker(ids=ids, clock=clock, hasher=hasher, guessability=guessability)
    account = NewAccount(email=email, full_name=full_name, password=password)
    return await maker.new(account, role=role, practice_id=practice_id)


async def add_account(uow: UnitOfWork, user: User) -> None:
    """Store a new user; a taken email is 409 (the unique constraint backs the check)."""
    if await uow.users.get_by_email(user.email) is not None:
        raise Conflict("An account with this email already exists.", code="email-taken")
    await uow.users.add(user)
