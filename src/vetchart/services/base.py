"""What the services share: the collaborators a subject's service is built with, and the
answer for what is not there."""

from __future__ import annotations

from typing import Generic, TypeVar
from uuid import UUID

from vetchart.domain.errors import Conflict, NotFound
from vetchart.domain.policy import (
    Action,
    PracticeConfiguration,
    PracticeLookup,
    Principal,
    require,
)
from vetchart.domain.practices import Practice
from vetchart.services.ports.system import Clock, IdGenerator
from vetchart.services.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory

T = TypeVar("T")
Queries = TypeVar("Queries")
Reads = TypeVar("Reads")


class QueryService(Generic[Queries]):
    """A service that writes through the unit of work and lists through its queries, with
    the clock and ids of new objects."""

    def __init__(
        self, *, uow: UnitOfWorkFactory, queries: Queries, clock: Clock, ids: IdGenerator
    ) -> None:
        self._uow = uow
        self._queries = queries
        self._clock = clock
        self._ids = ids


class SubjectService(QueryService[Queries], Generic[Queries, Reads]):
    """A service of one subject (owners, pets, appointments): writes through the unit of
    work, lists through the subject's queries, audited reads through its fast path
    (``reads``), with the clock and ids of new objects."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        queries: Queries,
        reads: Reads,
        clock: Clock,
        ids: IdGenerator,
    ) -> None:
        super().__init__(uow=uow, queries=queries, clock=clock, ids=ids)
        self._reads = reads


def found(value: T | None, what: str) -> T:
    """The value looked up; None is 404 ("<what> not found."): outside the actor's scope a
    thing does not exist."""
    if value is None:
        raise NotFound(f"{what} not found.")
    return value


async def practice_for(
    uow: UnitOfWork, actor: Principal, action: Action, practice_id: UUID
) -> Practice:
    """The practice ``actor`` does ``action`` in, as one of its members (its staff;
    SYSTEM_ADMIN): 404 or 403 as the policy says (``PracticeLookup``)."""
    practice = await uow.practices.get(practice_id)
    require(actor, action, PracticeLookup(practice))
    assert practice is not None
    return practice


def require_configuration(
    actor: Principal, action: Action, what: str, practice_id: UUID | None
) -> None:
    """``what`` (a webhook, an API key) of the practice ``practice_id``, managed by
    ``action``; None when there is no such item: 404, or 403 to a caller the matrix refuses
    (so the answer never tells it what exists)."""
    if practice_id is None:
        require(actor, action)
        raise NotFound(f"{what} not found.")
    require(actor, action, PracticeConfiguration(practice_id, what))


async def practice_to_configure(
    uow: UnitOfWork, actor: Principal, action: Action, practice_id: UUID
) -> Practice:
    """The practice ``actor`` adds configuration to by ``action`` (a webhook, an API key):
    404 or 403 as the policy says; a deactivated one, which only a SYSTEM_ADMIN still
    sees, is 409 (nothing new is configured for it)."""
    practice = await practice_for(uow, actor, action, practice_id)
    if not practice.is_active:
        raise Conflict("This practice is deactivated.", code="practice-inactive")
    return practice
