"""Owner lifecycle ports: the export of everything about an owner (GDPR access)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

# One exported object: its fields by name, JSON-ready (ids, dates and times as such,
# decimal numbers as their text, JSON columns as JSON values).
Item = dict[str, Any]


@dataclass(frozen=True)
class OwnerExport:
    """Everything stored about one owner and their pets, as plain items. Medical records
    carry their full history (``versions``); the audit rows are those about the owner or
    their pets, without the other parties' addresses and user agents."""

    owner: Item
    pets: list[Item] = field(default_factory=list)
    associations: list[Item] = field(default_factory=list)
    appointments: list[Item] = field(default_factory=list)
    visits: list[Item] = field(default_factory=list)
    medical_records: list[Item] = field(default_factory=list)
    attachments: list[Item] = field(default_factory=list)
    audit_events: list[Item] = field(default_factory=list)


class OwnerExportQueries(Protocol):
    async def export(
        self, owner_id: UUID, *, practice_id: UUID | None, include_audit: bool
    ) -> OwnerExport | None:
        """The owner's export in one consistent snapshot, in a constant number of
        statements; None when there is no such owner. ``practice_id``: that practice's
        view (its associations and appointments only; pets, visits and records as its
        staff read them); None: everything."""
        ...
