"""The benchmark data set, loaded fast: rows built with the domain's own objects and the
repositories' row mappers, written with COPY (asyncpg) through vetchart's table definitions.

Medical records go through ``MedicalRecord.create`` (and ``amend``), so every record is
valid by the domain's rules, and are written as the application writes them: one row per
event in ``medical_record_events`` (the truth) and the current state in the
``medical_records`` projection. The audit trail and the outbox are not written for the
loaded data (they would be by the API; the benchmark reads do write them).

``load_base`` builds the comparison's data set (1 practice, a VET and a PRACTICE_ADMIN,
500 approved clients, 1,000 pets, one pet with 200 records, 50 appointments today, a few
follow-ups due); ``add_records`` and ``add_versioned_record`` are what the scale run adds.
"""

from __future__ import annotations

import json
import math
import time as clock
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg
from argon2 import PasswordHasher as Argon2
from argon2 import Type
from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import JSONB

from vetchart.adapters.db.records import _EVENTS, _projection
from vetchart.adapters.db.repositories import (
    _ASSOCIATIONS,
    _OWNERS,
    _PETS,
    _PRACTICES,
    _USERS,
)
from vetchart.adapters.db.schedule import _appointment_values
from vetchart.adapters.db.tables import (
    appointment_pets,
    appointments,
    medical_record_events,
    medical_records,
    pet_owners,
    pets,
    practice_associations,
    practices,
    users,
)
from vetchart.adapters.system import Uuid7Ids
from vetchart.config import AuthSettings
from vetchart.domain.appointments import (
    AppointmentStatus,
    AppointmentType,
    local_today,
    new_appointment,
)
from vetchart.domain.owners import Association, AssociationStatus, PetOwner, RequestType
from vetchart.domain.passwords import normalize_password
from vetchart.domain.pets import Pet, Sex
from vetchart.domain.practices import Practice
from vetchart.domain.records import MedicalRecord, PetFacts, RecordContent, RecordType
from vetchart.domain.users import Role, User

PASSWORD = "otter-lantern-meadow-river-42"  # noqa: S105 - a throw-away benchmark database
VET_EMAIL = "vet@bench.vetchart.local"
ADMIN_EMAIL = "manager@bench.vetchart.local"
TIMEZONE = "Europe/London"
BATCH = 10_000
AMEND_RECORDS = 8  # records created "now", to be amended

_IDS = Uuid7Ids()
# Per species: a plausible weight (kg) for the domain's vital ranges; one temperature
# (38.6 °C) is plausible for all three.
SPECIES = (("dog", "Labrador", Decimal("24.500")), ("cat", "Siamese", Decimal("4.300")))
SPECIES += (("rabbit", "Lop", Decimal("2.100")),)
PET_NAMES = ("Bella", "Max", "Luna", "Charlie", "Daisy", "Milo", "Coco", "Rocky", "Nala", "Otis")
FIRST = ("Alex", "Sam", "Jordan", "Priya", "Omar", "Lena", "Theo", "Mia", "Noah", "Ava")
LAST = ("Smith", "Jones", "Patel", "Khan", "Brown", "Taylor", "Wilson", "Evans", "Walsh", "Roy")
VACCINES = ("DHPPi", "Leptospirosis L4", "Rabies", "Feline RCP", "Myxo-RHD Plus")
TEMPERATURE = Decimal("38.6")


@dataclass(frozen=True)
class PetRef:
    id: UUID
    owner_id: UUID
    species: str
    weight: Decimal
    date_of_birth: date

    def facts(self) -> PetFacts:
        return PetFacts(
            id=self.id, species=self.species, date_of_birth=self.date_of_birth, is_active=True
        )


@dataclass
class Dataset:
    practice_id: UUID
    timezone: str
    today: date  # practice-local, at load time
    vet_id: UUID
    admin_id: UUID
    owner_ids: list[UUID]
    pets: list[PetRef]
    big_pet: PetRef
    amend_record_ids: list[UUID]
    vet_email: str = VET_EMAIL
    admin_email: str = ADMIN_EMAIL
    password: str = PASSWORD
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def other_pets(self) -> list[PetRef]:
        return [p for p in self.pets if p.id != self.big_pet.id]


# --------------------------------------------------------------------------- COPY


def _copy_plan(table: Table, row: Mapping[str, Any]) -> tuple[list[str], set[str]]:
    columns = [c for c in table.c if c.computed is None]
    unknown = set(row) - {c.name for c in columns}
    if unknown:
        raise ValueError(f"{table.name}: unknown columns {sorted(unknown)}")
    names = [c.name for c in columns if c.name in row]
    return names, {c.name for c in columns if isinstance(c.type, JSONB)}


async def copy_rows(
    conn: asyncpg.Connection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> int:
    """COPY dict rows (column name -> value) into ``table``; JSONB values are encoded here."""
    if not rows:
        return 0
    names, json_columns = _copy_plan(table, rows[0])
    encoders = [json.dumps if name in json_columns else None for name in names]
    records = [
        tuple(
            enc(row[name]) if enc is not None else row[name]
            for name, enc in zip(names, encoders, strict=True)
        )
        for row in rows
    ]
    await conn.copy_records_to_table(table.name, records=records, columns=names)
    return len(records)


# --------------------------------------------------------------------------- records


def record_content(
    i: int, pet: PetRef, visit: date, follow_up: date | None = None
) -> RecordContent:
    """Varied, valid content: every record type, some with data, costs and vitals."""
    kinds = list(RecordType)
    kind = kinds[i % len(kinds)]
    data: dict[str, Any] = {}
    medications = None
    if kind is RecordType.VACCINATION:
        data = {"vaccine_name": VACCINES[i % len(VACCINES)], "batch": f"B{i:06d}", "dose_ml": 1}
    elif kind is RecordType.PRESCRIPTION:
        medications = "Meloxicam 1.5 mg/ml oral suspension, 0.1 ml/kg once daily for 5 days"
    elif kind is RecordType.DIAGNOSTIC:
        data = {"panel": "CBC", "results": {"wbc": 9.1, "hct": 42, "plt": 310}}
    vitals = i % 3 != 2
    return RecordContent(
        record_type=kind,
        title=f"{kind.value.capitalize()} #{i}",
        visit_date=visit,
        description="Presented for a routine visit; owner reports normal appetite and energy.",
        diagnosis=None if i % 4 == 0 else "No abnormalities detected on examination.",
        treatment=None if i % 5 == 0 else "Continue current diet; recheck in twelve months.",
        medications=medications,
        weight_kg=pet.weight if vitals else None,
        temperature_c=TEMPERATURE if vitals else None,
        cost=Decimal(f"{35 + i % 250}.50") if i % 2 == 0 else None,
        follow_up_required=follow_up is not None,
        follow_up_date=follow_up,
        data=data,
    )


def record_rows(record: MedicalRecord) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The projection row and the event rows, as the repository writes them."""
    events = [_EVENTS.values(event) for event in record.new_events]
    record.new_events.clear()
    return _projection(record), events


def create_record(
    ds: Dataset, pet: PetRef, content: RecordContent, created_at: datetime
) -> MedicalRecord:
    return MedicalRecord.create(
        record_id=_IDS.new_id(),
        pet=pet.facts(),
        practice_id=ds.practice_id,
        author_id=ds.vet_id,
        content=content,
        now=created_at,
    )


async def write_records(conn: asyncpg.Connection, records: Iterable[MedicalRecord]) -> int:
    """Projection rows first (the events reference them), then the events."""
    projections: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for record in records:
        row, record_events = record_rows(record)
        projections.append(row)
        events.extend(record_events)
    await copy_rows(conn, medical_records, projections)
    await copy_rows(conn, medical_record_events, events)
    return len(projections)


def _created(visit: date, i: int) -> datetime:
    return datetime.combine(visit, time(8 + i % 9, (i * 7) % 60), tzinfo=UTC)


def _batches(items: Iterator[MedicalRecord], size: int) -> Iterator[list[MedicalRecord]]:
    batch: list[MedicalRecord] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _pet_records(ds: Dataset, pet: PetRef, count: int, start: int) -> Iterator[MedicalRecord]:
    """``count`` records of one pet, newest visit yesterday, at most ~8 years back."""
    per_day = max(1, math.ceil(count / 3000))
    for n in range(count):
        i = start + n
        visit = ds.today - timedelta(days=1 + n // per_day)
        # A few planned follow-ups, in the future (so not "due" on the dashboard).
        follow_up = ds.today + timedelta(days=30) if n % 25 == 7 else None
        yield create_record(ds, pet, record_content(i, pet, visit, follow_up), _created(visit, i))


def _spread_records(
    ds: Dataset, targets: Sequence[PetRef], count: int, start: int
) -> Iterator[MedicalRecord]:
    """``count`` records round-robin over ``targets``, visits within the last ~2 years."""
    for n in range(count):
        i = start + n
        pet = targets[n % len(targets)]
        visit = ds.today - timedelta(days=1 + (i * 37) % 700)
        yield create_record(ds, pet, record_content(i, pet, visit), _created(visit, i))


async def add_pet_records(
    conn: asyncpg.Connection, ds: Dataset, pet: PetRef, count: int, *, start: int = 0
) -> int:
    written = 0
    for batch in _batches(_pet_records(ds, pet, count, start), BATCH):
        written += await write_records(conn, batch)
    return written


async def add_records(
    conn: asyncpg.Connection,
    ds: Dataset,
    count: int,
    *,
    targets: Sequence[PetRef] | None = None,
    start: int = 0,
    progress: bool = False,
) -> int:
    """``count`` records spread over ``targets`` (default: every pet but the big one),
    generated and copied in batches of ``BATCH`` (bounded memory)."""
    pool = list(targets) if targets is not None else ds.other_pets
    written = 0
    started = clock.perf_counter()
    for batch in _batches(_spread_records(ds, pool, count, start), BATCH):
        written += await write_records(conn, batch)
        if progress and written % (BATCH * 10) == 0:
            rate = written / (clock.perf_counter() - started)
            print(f"    {written:,} / {count:,} records ({rate:,.0f}/s)", flush=True)
    return written


async def add_versioned_record(
    conn: asyncpg.Connection, ds: Dataset, pet: PetRef, versions: int
) -> UUID:
    """One record with ``versions`` versions: created, then amended through the domain's
    amend path (each amendment one more event with its full snapshot). The projection row
    is written first (the events reference it) and brought to the last version at the end;
    the events are copied in batches."""
    visit = ds.today - timedelta(days=3)
    created_at = datetime.combine(visit, time(9), tzinfo=UTC)
    record = create_record(ds, pet, record_content(0, pet, visit), created_at)
    projection, events = record_rows(record)
    await copy_rows(conn, medical_records, [projection])
    for n in range(1, versions):
        changes: dict[str, Any] = {"diagnosis": f"Reassessed (amendment {n})."}
        if n % 3 == 0:
            changes["cost"] = Decimal(f"{40 + n % 300}.25")
        record.amend(
            changes=changes,
            pet=pet.facts(),
            actor_id=ds.vet_id,
            reason=f"Correction {n}",
            now=created_at + timedelta(seconds=n),
            auto_finalise_after=timedelta(hours=24),
        )
        projection, more = record_rows(record)
        events.extend(more)
        if len(events) >= BATCH:
            await copy_rows(conn, medical_record_events, events)
            events = []
    await copy_rows(conn, medical_record_events, events)
    await update_row(conn, medical_records, projection)
    return record.id


async def update_row(conn: asyncpg.Connection, table: Table, row: Mapping[str, Any]) -> None:
    """UPDATE the row of ``table`` with ``row["id"]`` to the other values of ``row``."""
    names, json_columns = _copy_plan(table, row)
    names = [name for name in names if name != "id"]
    sets = ", ".join(
        f"{name} = ${n}" + ("::jsonb" if name in json_columns else "")
        for n, name in enumerate(names, start=2)
    )
    values = [json.dumps(row[n]) if n in json_columns else row[n] for n in names]
    # Column names come from the table definition, never from input.
    await conn.execute(f"UPDATE {table.name} SET {sets} WHERE id = $1", row["id"], *values)  # noqa: S608


# --------------------------------------------------------------------------- base set


def password_hash(password: str) -> str:
    """Argon2id with the application's configured parameters (AuthSettings), as its hasher
    makes them; a hash made with other parameters would be re-hashed at the first login."""
    auth = AuthSettings()
    hasher = Argon2(
        time_cost=auth.argon2_time_cost,
        memory_cost=auth.argon2_memory_kib,
        parallelism=auth.argon2_parallelism,
        hash_len=32,
        salt_len=16,
        type=Type.ID,
    )
    return hasher.hash(normalize_password(password))


def _local(day: date, hour: int, minute: int, timezone: str) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


async def load_base(
    conn: asyncpg.Connection,
    *,
    owners: int = 500,
    pets_count: int = 1000,
    big_pet_records: int = 200,
    appointments_today: int = 50,
    follow_ups_due: int = 6,
    amend_records: int = AMEND_RECORDS,
    timezone: str = TIMEZONE,
) -> Dataset:
    """The comparison's data set; returns what the scenarios need to address it."""
    now = datetime.now(UTC)
    today = local_today(now, timezone)
    practice = Practice(
        id=_IDS.new_id(),
        name="Bench Animal Clinic",
        timezone=timezone,
        license_number="BENCH-0001",
        email="hello@bench.vetchart.local",
        city="London",
        country="GB",
        created_at=now,
        updated_at=now,
    )
    await copy_rows(conn, practices, [_PRACTICES.values(practice)])
    hashed = password_hash(PASSWORD)
    staff = [
        User.new(
            id=_IDS.new_id(),
            email=email,
            full_name=name,
            role=role,
            practice_id=practice.id,
            password_hash=hashed,
            now=now,
        )
        for email, name, role in (
            (VET_EMAIL, "Dr. Bench Vet", Role.VET),
            (ADMIN_EMAIL, "Bench Manager", Role.PRACTICE_ADMIN),
        )
    ]
    await copy_rows(conn, users, [_USERS.values(u) for u in staff])
    vet, admin = staff

    owner_objs = [
        PetOwner(
            id=_IDS.new_id(),
            full_name=f"{FIRST[i % len(FIRST)]} {LAST[(i // len(FIRST)) % len(LAST)]} {i}",
            email=f"client{i:05d}@bench.example.com",
            phone=f"+44 20 7946 {i % 10000:04d}",
            address=f"{1 + i % 200} High Street, London",
            created_at=now,
            updated_at=now,
        )
        for i in range(owners)
    ]
    await copy_rows(conn, pet_owners, [_OWNERS.values(o) for o in owner_objs])
    associations = [
        Association(
            id=_IDS.new_id(),
            pet_owner_id=o.id,
            practice_id=practice.id,
            request_type=RequestType.NEW_CLIENT,
            status=AssociationStatus.APPROVED,
            requested_by=admin.id,
            decided_by=admin.id,
            decided_at=now,
            created_at=now,
            updated_at=now,
        )
        for o in owner_objs
    ]
    await copy_rows(conn, practice_associations, [_ASSOCIATIONS.values(a) for a in associations])

    pet_objs: list[Pet] = []
    refs: list[PetRef] = []
    for i in range(pets_count):
        species, breed, weight = SPECIES[i % len(SPECIES)]
        # The first pet (the one with many records) is old enough for 8 years of visits.
        born = today - timedelta(days=15 * 365 if i == 0 else 800 + (i * 53) % 3000)
        pet = Pet(
            id=_IDS.new_id(),
            owner_id=owner_objs[i % owners].id,
            name=f"{PET_NAMES[i % len(PET_NAMES)]} {i}",
            species=species,
            breed=breed,
            sex=(Sex.FEMALE, Sex.MALE)[i % 2],
            date_of_birth=born,
            weight_kg=weight,
            microchip_id=f"BENCH{i:09d}",
            neutered=i % 3 != 0,
            created_at=now,
            updated_at=now,
        )
        pet_objs.append(pet)
        refs.append(PetRef(pet.id, pet.owner_id, species, weight, born))
    for start in range(0, len(pet_objs), BATCH):
        await copy_rows(conn, pets, [_PETS.values(p) for p in pet_objs[start : start + BATCH]])

    ds = Dataset(
        practice_id=practice.id,
        timezone=timezone,
        today=today,
        vet_id=vet.id,
        admin_id=admin.id,
        owner_ids=[o.id for o in owner_objs],
        pets=refs,
        big_pet=refs[0],
        amend_record_ids=[],
    )
    ds.counts["records"] = await add_pet_records(conn, ds, ds.big_pet, big_pet_records)

    # Follow-ups due (on other pets), and records to amend: created now, so not finalised.
    extra: list[MedicalRecord] = []
    for k in range(follow_ups_due):
        pet = refs[1 + k]
        visit = today - timedelta(days=20)
        content = record_content(k, pet, visit, today - timedelta(days=k % 5))
        extra.append(create_record(ds, pet, content, _created(visit, k)))
    for k in range(amend_records):
        pet = refs[1 + follow_ups_due + k]
        content = record_content(k, pet, today - timedelta(days=1))
        record = create_record(ds, pet, content, now)
        ds.amend_record_ids.append(record.id)
        extra.append(record)
    ds.counts["records"] += await write_records(conn, extra)

    # Appointments: today (and the days around it), one vet, back to back from 08:00.
    rows: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    pets_of: dict[UUID, list[UUID]] = {}
    for ref in refs:
        pets_of.setdefault(ref.owner_id, []).append(ref.id)
    slot = 12
    for offset in (-1, 0, 1):
        day = today + timedelta(days=offset)
        for k in range(appointments_today):
            owner = owner_objs[(k + 50 * (offset + 1)) % owners]
            minutes = 8 * 60 + k * slot
            appointment = new_appointment(
                id=_IDS.new_id(),
                practice_id=practice.id,
                pet_owner_id=owner.id,
                pet_ids=tuple(sorted(pets_of[owner.id][:2])),
                assigned_vet_id=vet.id,
                start_at=_local(day, minutes // 60, minutes % 60, timezone),
                duration_minutes=slot,
                appointment_type=list(AppointmentType)[k % len(AppointmentType)],
                title=f"Appointment {k + 1}",
                notes="Booked by phone." if k % 2 else None,
                status=(AppointmentStatus.SCHEDULED, AppointmentStatus.CONFIRMED)[k % 2],
                created_by=admin.id,
                created_at=now,
                updated_at=now,
            )
            rows.append(_appointment_values(appointment))
            links.extend(
                {"appointment_id": appointment.id, "pet_id": p} for p in appointment.pet_ids
            )
    await copy_rows(conn, appointments, rows)
    await copy_rows(conn, appointment_pets, links)
    await conn.execute("ANALYZE")
    ds.counts.update(
        owners=owners,
        pets=pets_count,
        big_pet_records=big_pet_records,
        appointments_today=appointments_today,
        follow_ups_due=follow_ups_due,
    )
    return ds
