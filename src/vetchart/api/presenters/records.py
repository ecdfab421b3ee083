"""Medical records and their history as responses: from the service's views, and from
the fast path's rows (orjson, see ``encoding``)."""

from __future__ import annotations

from typing import Any

import orjson

from vetchart.api.schemas.records import ActorOut, HistoryEntryOut, RecordOut
from vetchart.domain.records import CONTENT_FIELDS
from vetchart.services.ports.paging import Row
from vetchart.services.ports.records import HistoryEntry
from vetchart.services.records import RecordView

RECORD_FIELDS = tuple(RecordOut.model_fields)


def record_item(row: Row) -> dict[str, Any]:
    """A record (RecordOut) from a row whose ``data`` is JSON text (never NULL)."""
    item = {name: row[name] for name in RECORD_FIELDS}
    item["data"] = orjson.Fragment(item["data"])
    return item


HISTORY_FIELDS = tuple(HistoryEntryOut.model_fields)


def history_item(row: Row) -> dict[str, Any]:
    """One version (HistoryEntryOut) from a row with the actor's name and role, and the
    changed fields and snapshot as JSON text."""
    item = {
        "version": row["version"],
        "event_type": row["event_type"],
        "recorded_at": row["recorded_at"],
        "actor_id": row["actor_id"],
        "actor": {"id": row["actor_id"], "full_name": row["actor_name"], "role": row["actor_role"]},
        "reason": row["reason"],
        "changed_fields": orjson.Fragment(row["changed_fields"]),
        "late": row["late"],
        "snapshot": orjson.Fragment(row["snapshot"]),
    }
    return {name: item[name] for name in HISTORY_FIELDS}


def record_out(view: RecordView) -> RecordOut:
    record = view.record
    content = {name: getattr(record.content, name) for name in CONTENT_FIELDS}
    return RecordOut.from_object(record, **content, finalised_at=view.finalised_at)


def history_out(entry: HistoryEntry) -> HistoryEntryOut:
    return HistoryEntryOut.from_object(entry.event, actor=ActorOut.model_validate(entry.actor))
