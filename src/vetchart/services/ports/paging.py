"""The read side's shared shapes: keyset pages (``PageRequest``, ``Page``) and the fast
path's plain rows (``Row``) with what an audited read saw (``SEEN_IDS``,
``SEEN_PRACTICES``) and how its audit row is written (``EntryFor``, ``ReadAudit``).

A leaf: imports no other port module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from vetchart.domain.audit import AuditEntry, RequestMeta

T = TypeVar("T")


@dataclass(frozen=True)
class PageRequest:
    limit: int
    after: tuple[object, ...] | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    # The sort key of the last item when there are more rows; None on the last page.
    next_key: tuple[object, ...] | None


# A row of the read side's fast path, keyed by the response's field names and ready to be
# presented as JSON as it is: ids, dates and times as such, decimal numbers as their text,
# structured ``data`` as its JSON text (api/presenters/ says which field is which).
Row = Mapping[str, Any]

# What an audited read saw, carried on the FIRST row it returns (from which its audit row
# is built, adapters/db/audited_reads.py): a page's ``SEEN_IDS`` are the ids of the rows
# the caller gets, in page order (None: an empty page); ``SEEN_PRACTICES`` the practices
# their data belongs to (the rows' own practice; for pets and owners, read outside a
# practice's scope, the practices with an approved association with the owner).
SEEN_IDS = "seen_ids"
SEEN_PRACTICES = "seen_practices"
# An audited read's audit entry, built from that first row.
EntryFor = Callable[[Row], AuditEntry]


@dataclass(frozen=True)
class ReadAudit:
    """How an audited read writes its audit row: the entry built from the first row it
    returns, and the request it answers."""

    entry_for: EntryFor
    meta: RequestMeta
