"""The floor: a bare Starlette + asyncpg app (one uvicorn process) answering the read
scenarios of ``bench.compare`` with the same rows as vetchart, each in ONE query, in the
same JSON shape (vetchart's field names; lists as ``{"items": [...], "next_cursor": ...}``),
serialised with Starlette's plain ``JSONResponse`` (stdlib json). No authentication, no
scope check beyond the practice given on the command line, no audit: it is the floor.

Usage: ``python -m bench.floor --dsn DSN --practice-id ID [--host H] [--port P]``.
"""

# The SQL is assembled from constants of this module and an integer, never from input.
# ruff: noqa: S608

from __future__ import annotations

import argparse
import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

POOL_SIZE = 10
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
DASHBOARD_LIMIT = 200


def _text(value: Any) -> str:
    return str(value)


def _iso(value: date | datetime) -> str:
    return value.isoformat()


# By exact type (a dict lookup per value): what stdlib json cannot encode as it is.
_CONVERT: dict[type, Any] = {
    datetime: _iso,
    date: _iso,
    Decimal: _text,
    UUID: _text,
    asyncpg.pgproto.pgproto.UUID: _text,
}


def _plain(value: Any) -> Any:
    """A JSON value for stdlib json (which knows no UUID, datetime, date or Decimal)."""
    convert = _CONVERT.get(type(value))
    return value if convert is None else convert(value)


def _row(row: asyncpg.Record) -> dict[str, Any]:
    return {key: _plain(value) for key, value in row.items()}


def _limit(request: Request) -> int:
    try:
        limit = int(request.query_params.get("limit", DEFAULT_LIMIT))
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError("limit")
    return limit


def _cursor(*key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps([str(k) for k in key]).encode()).decode()


def _record_columns(prefix: str, finalise_seconds: int, *, numeric_text: bool) -> str:
    """The columns of vetchart's RecordOut, in its order; finalised_at as the service
    computes it (signed, or created + the auto-finalise period; null until then)."""
    p = prefix
    after = f"{p}created_at + interval '{finalise_seconds} seconds'"
    final = f"CASE WHEN {p}signed_at IS NOT NULL AND {p}signed_at < {after} THEN {p}signed_at ELSE {after} END"  # noqa: E501
    cast = "::text" if numeric_text else ""
    return (
        f"{p}id, {p}pet_id, {p}practice_id, {p}author_id, {p}record_type, {p}title, "
        f"{p}description, {p}visit_date, {p}diagnosis, {p}treatment, {p}medications, "
        f"{p}weight_kg{cast} AS weight_kg, {p}temperature_c{cast} AS temperature_c, "
        f"{p}cost{cast} AS cost, {p}follow_up_required, {p}follow_up_date, {p}data, "
        f"{p}status, {p}version, {p}created_at, {p}updated_at, "
        f"CASE WHEN now() >= {final} THEN {final} END AS finalised_at, "
        f"{p}signed_at, {p}signed_by, {p}entered_in_error_reason"
    )


_PET_COLUMNS = (
    "p.id, p.owner_id, p.name, p.species, p.breed, p.sex, p.colour, p.date_of_birth, "
    "p.weight_kg, p.microchip_id, p.neutered, p.allergies, p.notes, p.is_active, p.version, "
    "p.created_at, p.updated_at, o.id AS o_id, o.full_name AS o_full_name, o.email AS o_email, "
    "o.phone AS o_phone, o.address AS o_address, "
    "o.preferred_communication AS o_preferred_communication, o.user_id AS o_user_id, "
    "o.created_at AS o_created_at, o.updated_at AS o_updated_at"
)

# The pets of appointment ``a`` (ids by id, briefs by name then id), one lateral join.
_APPOINTMENT_PETS = (
    "LEFT JOIN LATERAL (SELECT json_agg(ap.pet_id ORDER BY ap.pet_id) AS pet_ids, "
    "json_agg(json_build_object('id', ap_p.id, 'name', ap_p.name, 'species', ap_p.species) "
    "ORDER BY ap_p.name, ap_p.id) AS pets "
    "FROM appointment_pets ap JOIN pets ap_p ON ap_p.id = ap.pet_id "
    "WHERE ap.appointment_id = a.id) ap_x ON true"
)
_APPOINTMENT_TAIL = (
    "a.assigned_vet_id, a.start_at, a.end_at, a.duration_minutes, a.appointment_type, "
    "a.title, a.notes, a.status, a.version, a.created_at, a.updated_at"
)


def _pet_with_owner(row: asyncpg.Record) -> dict[str, Any]:
    pet: dict[str, Any] = {}
    owner: dict[str, Any] = {}
    for key, value in row.items():
        if key.startswith("o_"):
            owner[key[2:]] = _plain(value)
        else:
            pet[key] = _plain(value)
    pet["owner"] = owner
    return pet


class Floor:
    def __init__(self, dsn: str, practice_id: UUID, finalise_after_hours: float) -> None:
        self.dsn = dsn
        self.practice_id = practice_id
        self.pool: asyncpg.Pool | None = None
        seconds = int(finalise_after_hours * 3600)
        records = _record_columns("", seconds, numeric_text=False)
        self.sql_records = (
            f"SELECT {records} FROM medical_records WHERE pet_id = $1 AND status = 'active' "
            "ORDER BY visit_date DESC, id DESC LIMIT $2"
        )
        self.sql_pet = (
            f"SELECT {_PET_COLUMNS} FROM pets p JOIN pet_owners o ON o.id = p.owner_id "
            "WHERE p.id = $1"
        )
        self.sql_pets = (
            f"SELECT {_PET_COLUMNS} FROM pets p JOIN pet_owners o ON o.id = p.owner_id "
            "WHERE p.is_active AND EXISTS (SELECT 1 FROM practice_associations pa "
            "WHERE pa.pet_owner_id = p.owner_id AND pa.practice_id = $1 "
            "AND pa.status = 'approved') ORDER BY p.name, p.id LIMIT $2"
        )
        self.sql_appointments = (
            "WITH day AS (SELECT ($2::date)::timestamp AT TIME ZONE timezone AS day_start, "
            "($2::date + 1)::timestamp AT TIME ZONE timezone AS day_end "
            "FROM practices WHERE id = $1) "
            "SELECT a.id, a.practice_id, a.pet_owner_id, o.full_name AS owner_name, "
            "coalesce(ap_x.pet_ids, '[]'::json) AS pet_ids, "
            f"coalesce(ap_x.pets, '[]'::json) AS pets, {_APPOINTMENT_TAIL} "
            f"FROM appointments a JOIN pet_owners o ON o.id = a.pet_owner_id {_APPOINTMENT_PETS} "
            "WHERE a.practice_id = $1 AND a.start_at >= (SELECT day_start FROM day) "
            "AND a.start_at < (SELECT day_end FROM day) "
            "ORDER BY a.start_at, a.id LIMIT $3"
        )
        due = _record_columns("m.", seconds, numeric_text=True)
        self.sql_dashboard = f"""
WITH p AS (
    SELECT id, timezone, (now() AT TIME ZONE timezone)::date AS today
    FROM practices WHERE id = $1
), b AS (
    SELECT id, timezone, today,
           today::timestamp AT TIME ZONE timezone AS day_start,
           (today + 1)::timestamp AT TIME ZONE timezone AS day_end
    FROM p
)
SELECT b.today, b.timezone,
  (SELECT coalesce(json_agg(x ORDER BY x.start_at, x.id), '[]'::json) FROM (
      SELECT a.id, a.practice_id, a.pet_owner_id,
             json_build_object('id', o.id, 'full_name', o.full_name) AS owner,
             coalesce(ap_x.pet_ids, '[]'::json) AS pet_ids,
             coalesce(ap_x.pets, '[]'::json) AS pets, {_APPOINTMENT_TAIL}
      FROM appointments a JOIN pet_owners o ON o.id = a.pet_owner_id {_APPOINTMENT_PETS}
      WHERE a.practice_id = b.id AND a.start_at >= b.day_start AND a.start_at < b.day_end
        AND ($2::uuid IS NULL OR a.assigned_vet_id = $2::uuid)
      ORDER BY a.start_at, a.id LIMIT $3) x) AS appointments,
  (SELECT coalesce(json_agg(r ORDER BY r.follow_up_date, r.id), '[]'::json) FROM (
      SELECT {due} FROM medical_records m JOIN pets pe ON pe.id = m.pet_id
      WHERE EXISTS (SELECT 1 FROM practice_associations pa WHERE pa.pet_owner_id = pe.owner_id
                    AND pa.practice_id = b.id AND pa.status = 'approved')
        AND m.practice_id = b.id AND m.follow_up_required AND m.status = 'active'
        AND m.follow_up_date <= b.today
      ORDER BY m.follow_up_date, m.id LIMIT $3) r) AS follow_ups,
  (SELECT coalesce(json_agg(v ORDER BY v.visit_date, v.id), '[]'::json) FROM (
      SELECT vi.id, vi.pet_id, vi.practice_id, vi.appointment_id, vi.visit_date,
             vi.transcript_text, vi.state,
             CASE WHEN vi.audio_key IS NOT NULL THEN json_build_object(
                 'content_type', vi.audio_content_type, 'size_bytes', vi.audio_size_bytes,
                 'sha256', vi.audio_sha256) END AS audio,
             vi.audio_pending_key IS NOT NULL AS audio_upload_pending, vi.summary,
             vi.summary_record_id, vi.created_by, vi.version, vi.created_at, vi.updated_at
      FROM visits vi JOIN pets pe ON pe.id = vi.pet_id
      WHERE EXISTS (SELECT 1 FROM practice_associations pa WHERE pa.pet_owner_id = pe.owner_id
                    AND pa.practice_id = b.id AND pa.status = 'approved')
        AND vi.practice_id = b.id AND vi.state = 'processed'
        AND jsonb_typeof(vi.summary) = 'object' AND vi.summary_record_id IS NULL
      ORDER BY vi.visit_date, vi.id LIMIT $3) v) AS visits
FROM b"""

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        async def init(conn: asyncpg.Connection) -> None:
            for name in ("json", "jsonb"):
                await conn.set_type_codec(
                    name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
                )

        self.pool = await asyncpg.create_pool(
            self.dsn, min_size=POOL_SIZE, max_size=POOL_SIZE, init=init
        )
        try:
            yield
        finally:
            await self.pool.close()

    def _pool(self) -> asyncpg.Pool:
        assert self.pool is not None
        return self.pool

    async def records(self, request: Request) -> JSONResponse:
        try:
            limit = _limit(request)
            pet_id = UUID(request.path_params["pet_id"])
        except ValueError:
            return JSONResponse({"detail": "bad request"}, status_code=422)
        rows = await self._pool().fetch(self.sql_records, pet_id, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        last = rows[-1] if more else None
        return JSONResponse(
            {
                "items": [_row(r) for r in rows],
                "next_cursor": _cursor(last["visit_date"], last["id"]) if last else None,
            }
        )

    async def pet(self, request: Request) -> JSONResponse:
        try:
            pet_id = UUID(request.path_params["pet_id"])
        except ValueError:
            return JSONResponse({"detail": "bad request"}, status_code=422)
        row = await self._pool().fetchrow(self.sql_pet, pet_id)
        if row is None:
            return JSONResponse({"detail": "not found"}, status_code=404)
        return JSONResponse(_pet_with_owner(row))

    async def pets(self, request: Request) -> JSONResponse:
        try:
            limit = _limit(request)
        except ValueError:
            return JSONResponse({"detail": "bad request"}, status_code=422)
        rows = await self._pool().fetch(self.sql_pets, self.practice_id, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        last = rows[-1] if more else None
        return JSONResponse(
            {
                "items": [_pet_with_owner(r) for r in rows],
                "next_cursor": _cursor(last["name"], last["id"]) if last else None,
            }
        )

    async def appointments(self, request: Request) -> JSONResponse:
        try:
            limit = _limit(request)
            practice_id = UUID(request.path_params["practice_id"])
            day = date.fromisoformat(request.query_params["date"])
        except (KeyError, ValueError):
            return JSONResponse({"detail": "bad request"}, status_code=422)
        rows = await self._pool().fetch(self.sql_appointments, practice_id, day, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        items = []
        for r in rows:
            item = _row(r)
            owner_name = item.pop("owner_name")
            items.append(
                {
                    "id": item.pop("id"),
                    "practice_id": item.pop("practice_id"),
                    "pet_owner_id": item["pet_owner_id"],
                    "owner": {"id": item.pop("pet_owner_id"), "full_name": owner_name},
                    **item,
                }
            )
        last = rows[-1] if more else None
        return JSONResponse(
            {
                "items": items,
                "next_cursor": _cursor(last["start_at"], last["id"]) if last else None,
            }
        )

    async def dashboard(self, request: Request) -> JSONResponse:
        try:
            raw = request.query_params.get("vet_id")
            vet_id = UUID(raw) if raw else None
        except ValueError:
            return JSONResponse({"detail": "bad request"}, status_code=422)
        row = await self._pool().fetchrow(
            self.sql_dashboard, self.practice_id, vet_id, DASHBOARD_LIMIT
        )
        if row is None:
            return JSONResponse({"detail": "not found"}, status_code=404)
        return JSONResponse(
            {
                "date": row["today"].isoformat(),
                "timezone": row["timezone"],
                "appointments": row["appointments"],
                "follow_ups": row["follow_ups"],
                "visits_awaiting_review": row["visits"],
            }
        )

    async def ready(self, request: Request) -> JSONResponse:
        await self._pool().fetchval("SELECT 1")
        return JSONResponse({"status": "ok"})

    def app(self) -> Starlette:
        v1 = "/api/v1"
        return Starlette(
            routes=[
                Route("/health/ready", self.ready),
                Route(f"{v1}/pets/{{pet_id}}/medical-records", self.records),
                Route(f"{v1}/pets/{{pet_id}}", self.pet),
                Route(f"{v1}/pets", self.pets),
                Route(f"{v1}/practices/{{practice_id}}/appointments", self.appointments),
                Route(f"{v1}/dashboard/today", self.dashboard),
            ],
            lifespan=self.lifespan,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True, help="postgresql:// URL (asyncpg)")
    parser.add_argument("--practice-id", required=True, type=UUID)
    parser.add_argument("--finalise-after-hours", type=float, default=24.0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    floor = Floor(args.dsn, args.practice_id, args.finalise_after_hours)
    uvicorn.run(
        floor.app(),
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        server_header=False,
        lifespan="on",
    )


if __name__ == "__main__":
    main()
