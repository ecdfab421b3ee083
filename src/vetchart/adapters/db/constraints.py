"""Database constraints whose refusal is an answer, not a failure: one table from the
constraint's name to the domain error it means.

The name comes from the driver (asyncpg's ``constraint_name``, which SQLAlchemy keeps on
``error.orig.__cause__``), never from the message text. A constraint not in the table
stays an unexpected error (500). ``tests/migrations/test_constraint_table.py`` checks
that every name below exists in the migrated schema, so a renamed constraint fails CI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from types import MappingProxyType

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from vetchart.domain.errors import Conflict, DomainError

ErrorFor = Callable[[], DomainError]

SLOT_CONSTRAINT = "ex_appointments_vet_slot"

CONSTRAINT_ERRORS: Mapping[str, ErrorFor] = MappingProxyType(
    {
        "uq_users_email": lambda: Conflict(
            "An account with this email already exists.", code="email-taken"
        ),
        "uq_practices_license_number": lambda: Conflict(
            "Another practice has this license number.", code="license-number-taken"
        ),
        "uq_pets_microchip_id": lambda: Conflict(
            "Another pet has this microchip id.", code="microchip-taken"
        ),
        "uq_pet_owners_user_id": lambda: Conflict(
            "You already have an owner profile.", code="owner-profile-exists"
        ),
        "uq_practice_associations_open": lambda: Conflict(
            "This owner already has a pending or approved association with this practice.",
            code="association-exists",
        ),
        "uq_schedule_exceptions_day": lambda: Conflict(
            "That day already has an exception for this practice or vet: delete it first.",
            code="schedule-exception-exists",
        ),
        # 82 random bits make a clash all but impossible; were one to happen, the
        # creation is refused rather than two keys sharing a public id.
        "uq_api_keys_public_id": lambda: Conflict(
            "Another key has this public id; create the key again.", code="api-key-clash"
        ),
        # The repository adds the id of the appointment holding the slot.
        SLOT_CONSTRAINT: lambda: Conflict(
            "The vet already has an appointment at that time.", code="appointment-overlap"
        ),
    }
)


def constraint_name(error: BaseException) -> str | None:
    """The name of the constraint a database error reports (asyncpg's own error, or the
    one SQLAlchemy wraps), or None."""
    candidates: list[object] = [error, error.__cause__]
    if isinstance(error, DBAPIError):
        candidates[1:1] = [error.orig, getattr(error.orig, "__cause__", None)]
    for candidate in candidates:
        name = getattr(candidate, "constraint_name", None)
        if isinstance(name, str) and name:
            return name
    return None


def violation(error: BaseException) -> DomainError | None:
    """The domain error a violated constraint means, or None when it is not in the table."""
    name = constraint_name(error)
    error_for = CONSTRAINT_ERRORS.get(name) if name is not None else None
    return None if error_for is None else error_for()


@asynccontextmanager
async def translated(session: AsyncSession) -> AsyncIterator[None]:
    """Run statements in a savepoint (the unit of work goes on after a refusal); a
    violated constraint of the table becomes its domain error."""
    try:
        async with session.begin_nested():
            yield
    except DBAPIError as error:
        domain_error = violation(error)
        if domain_error is None:
            raise
        raise domain_error from None
