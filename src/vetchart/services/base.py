"""What the services share: the collaborators a subject's service is built with, and the
answer for what is not there."""

from __future__ import annotations

from typing import Generic, TypeVar

from vetchart.domain.errors import NotFound
from vetchart.services.ports.system import Clock, IdGenerator
from vetchart.services.ports.unit_of_work import UnitOfWorkFactory

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
