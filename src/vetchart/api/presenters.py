"""Presenting the read side's fast-path rows as JSON, without a pydantic model per row.

The hot lists and reads answer straight from their rows with orjson: the rows already
hold exactly the response's fields (services/ports/paging.py ``Row``), in the order of the
response schema, which stays the documented contract (``response_model`` in the route).
``tests/api/test_fast_reads.py`` checks that these answers validate against the schema
and equal what the schema itself would render for the same record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from uuid import UUID

import orjson
from fastapi import Response

from vetchart.api.responses import JSON_MEDIA_TYPE
from vetchart.api.schemas.clients import PetOut, PetOwnerOut
from vetchart.api.schemas.records import HistoryEntryOut, RecordOut
from vetchart.api.schemas.schedule import AppointmentOut
from vetchart.services.ports.paging import Row

# RFC 3339 with "Z" for UTC, as pydantic writes it.
_OPTIONS = orjson.OPT_UTC_Z

RECORD_FIELDS = tuple(RecordOut.model_fields)


def record_item(row: Row) -> dict[str, Any]:
    """A record (RecordOut) from a row whose ``data`` is JSON text (never NULL)."""
    item = {name: row[name] for name in RECORD_FIELDS}
    item["data"] = orjson.Fragment(item["data"])
    return item


def _default(value: object) -> object:
    # asyncpg's own UUID type (a uuid.UUID subclass orjson does not take as one).
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


PET_FIELDS = tuple(PetOut.model_fields)
OWNER_FIELDS = tuple(PetOwnerOut.model_fields)
_OWNER_COLUMNS = tuple(f"owner__{name}" for name in OWNER_FIELDS)


def pet_item(row: Row) -> dict[str, Any]:
    """A pet with its owner (PetWithOwnerOut) from a row whose owner columns are
    prefixed ``owner__``."""
    item = {name: row[name] for name in PET_FIELDS}
    item["owner"] = dict(zip(OWNER_FIELDS, (row[c] for c in _OWNER_COLUMNS), strict=True))
    return item


def owner_item(row: Row) -> dict[str, Any]:
    """An owner (PetOwnerOut) from a row of its columns."""
    return {name: row[name] for name in OWNER_FIELDS}


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


APPOINTMENT_FIELDS = tuple(AppointmentOut.model_fields)


def appointment_item(row: Row) -> dict[str, Any]:
    """An appointment (AppointmentOut) from a row with ``owner_name`` and ``pets`` (JSON
    text) beside the appointment's own columns."""
    item = {name: row[name] for name in APPOINTMENT_FIELDS if name not in ("owner", "pets")}
    item["owner"] = {"id": row["pet_owner_id"], "full_name": row["owner_name"]}
    item["pets"] = orjson.Fragment(row["pets"])
    return {name: item[name] for name in APPOINTMENT_FIELDS}


def json_response(
    content: Mapping[str, Any] | list[Any],
    base: Response,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The answer, with the headers the route's dependencies set on ``base`` (the
    ``Response`` FastAPI injects: ``RateLimit-*``), which FastAPI itself only copies onto
    answers it renders."""
    answer = Response(
        orjson.dumps(content, default=_default, option=_OPTIONS),
        status_code=status_code,
        headers=dict(headers) if headers else None,
        media_type=JSON_MEDIA_TYPE,
    )
    answer.headers.update(base.headers)
    return answer


def list_response(
    items: Iterable[dict[str, Any]], next_cursor: str | None, base: Response
) -> Response:
    """The list envelope of every list (docs/pagination.md)."""
    return json_response({"items": list(items), "next_cursor": next_cursor}, base)
