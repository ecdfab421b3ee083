"""Domain events: facts raised by aggregates, collected by the Unit of Work."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class DomainEvent:
    """Base class; concrete events add their own fields."""

    @classmethod
    def event_type(cls) -> str:
        """The event's stable type name (a classmethod, so events may have a ``name`` field)."""
        return cls.__name__
