"""Prebuilt statements name their parameters so that none is also a column of a table
they write: SQLAlchemy would otherwise take an execution value named like a column as one
more column to set (adapters/db/statements.py)."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql

from vetchart.adapters.db import audit, records
from vetchart.adapters.db.statements import insert_one
from vetchart.adapters.db.tables import (
    audit_chains,
    audit_events,
    medical_record_events,
    medical_records,
)

WRITTEN = {
    c.name
    for t in (medical_records, medical_record_events, audit_events, audit_chains)
    for c in t.c
}


def _bind_names(statement: object) -> set[str]:
    compiled = statement.compile(dialect=postgresql.dialect())  # type: ignore[attr-defined]
    return set(compiled.binds)


def test_no_parameter_of_a_prebuilt_write_is_named_like_a_column() -> None:
    projection = tuple(c.name for c in medical_records.c if c.name not in ("id", "created_at"))
    event = tuple(c.name for c in medical_record_events.c)
    row = tuple(c.name for c in audit_events.c)
    statements = [
        records._with_events(
            records._update_projection(projection),
            insert_one(medical_record_events, event, "e_"),
        ),
        records._with_events(
            insert_one(medical_records, tuple(c.name for c in medical_records.c), "r_"),
            insert_one(medical_record_events, event, "e_"),
        ),
        records._record_with_pet("practice", for_update=True),
        audit._append_one(row),
        audit._LOCK_HEAD,
    ]
    for statement in statements:
        names = _bind_names(statement)
        assert names, statement
        assert not names & WRITTEN, (names & WRITTEN, str(statement))
