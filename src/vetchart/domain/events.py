"""Domain events: facts raised by aggregates, collected by the Unit of Work."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class DomainEvent:
    """Base class; concrete events add their own fields."""

    @property
    def name(self) -> str:
        return type(self).__name__
