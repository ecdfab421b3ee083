"""scheduling: opening hours, rosters, exceptions, appointment types; requested and
declined appointments

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 13:30:00

- schedule_settings (one row per practice: cancel_cutoff_hours, slot_step_minutes),
  opening_hours (the practice's weekly hours), vet_rosters (each vet's weekly
  availability), schedule_exceptions (one day that differs: the practice's closure or
  special hours when vet_id is NULL, else one vet's day off or changed hours; one per
  practice, vet and day, NULL vet included: NULLS NOT DISTINCT, PostgreSQL 15+) and
  appointment_types (a practice's types with their default durations). Times of day are
  the practice's wall-clock times.
- appointments.status gains ``requested`` (an owner's request, holding its slot) and
  ``declined`` (a request staff turned down, freeing its slot like cancelled and
  no_show): the status check and the no-double-booking exclusion constraint are
  recreated with them.
- ix_visits_appointment_date: an appointment's visits (``GET /visits?appointment_id=``).

Downgrade drops the tables; requested appointments become scheduled and declined ones
cancelled, so the old status check holds.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from vetchart.adapters.db.migrations.ddl import fk, timestamps
from vetchart.adapters.db.privileges import grant_app_privileges

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_STATUSES = (
    "status IN ('scheduled', 'confirmed', 'checked_in', 'in_progress', 'completed',"
    " 'cancelled', 'no_show')"
)
_NEW_STATUSES = (
    "status IN ('requested', 'scheduled', 'confirmed', 'checked_in', 'in_progress',"
    " 'completed', 'cancelled', 'no_show', 'declined')"
)


def _weekly(table: str, *extra: Any) -> None:
    op.create_table(
        table,
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        *extra,
        sa.Column("weekday", sa.SmallInteger(), nullable=False),
        sa.Column("start_time", sa.Time(), nullable=False),
        sa.Column("end_time", sa.Time(), nullable=False),
        sa.CheckConstraint("weekday BETWEEN 1 AND 7", name=op.f(f"ck_{table}_weekday_range")),
        sa.CheckConstraint("end_time > start_time", name=op.f(f"ck_{table}_ends_after_start")),
        fk(table, "practice_id", "practices", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    )


def _exclusion(where: str) -> None:
    op.execute(
        "ALTER TABLE appointments ADD CONSTRAINT ex_appointments_vet_slot EXCLUDE USING gist "
        "(assigned_vet_id WITH =, tstzrange(start_at, end_at, '[)') WITH &&) "
        f"WHERE ({where})"
    )


def upgrade() -> None:
    op.create_table(
        "schedule_settings",
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column(
            "cancel_cutoff_hours", sa.Integer(), server_default=sa.text("24"), nullable=False
        ),
        sa.Column("slot_step_minutes", sa.Integer(), server_default=sa.text("15"), nullable=False),
        *timestamps(),
        sa.CheckConstraint(
            "cancel_cutoff_hours BETWEEN 0 AND 720",
            name=op.f("ck_schedule_settings_cancel_cutoff_range"),
        ),
        sa.CheckConstraint(
            "slot_step_minutes BETWEEN 5 AND 240", name=op.f("ck_schedule_settings_slot_step_range")
        ),
        fk("schedule_settings", "practice_id", "practices", "CASCADE"),
        sa.PrimaryKeyConstraint("practice_id", name=op.f("pk_schedule_settings")),
    )
    _weekly("opening_hours")
    op.create_index(
        "ix_opening_hours_practice", "opening_hours", ["practice_id", "weekday", "start_time"]
    )
    _weekly(
        "vet_rosters",
        sa.Column("vet_id", sa.Uuid(), nullable=False),
        fk("vet_rosters", "vet_id", "users", "CASCADE"),
    )
    op.create_index(
        "ix_vet_rosters_practice_vet",
        "vet_rosters",
        ["practice_id", "vet_id", "weekday", "start_time"],
    )
    op.create_table(
        "schedule_exceptions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("vet_id", sa.Uuid(), nullable=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("start_time", sa.Time(), nullable=True),
        sa.Column("end_time", sa.Time(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        *timestamps(),
        sa.CheckConstraint(
            "(start_time IS NULL) = (end_time IS NULL)",
            name=op.f("ck_schedule_exceptions_times_together"),
        ),
        sa.CheckConstraint(
            "end_time > start_time", name=op.f("ck_schedule_exceptions_ends_after_start")
        ),
        fk("schedule_exceptions", "practice_id", "practices", "CASCADE"),
        fk("schedule_exceptions", "vet_id", "users", "CASCADE"),
        fk("schedule_exceptions", "created_by", "users", "RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_exceptions")),
    )
    op.create_index(
        "uq_schedule_exceptions_day",
        "schedule_exceptions",
        ["practice_id", "vet_id", "day"],
        unique=True,
        postgresql_nulls_not_distinct=True,
    )
    op.create_table(
        "appointment_types",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("appointment_type", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("owner_bookable", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        *timestamps(),
        sa.CheckConstraint(
            "duration_minutes BETWEEN 5 AND 720", name=op.f("ck_appointment_types_duration_range")
        ),
        sa.CheckConstraint(
            "appointment_type IN ('checkup', 'emergency', 'surgery', 'consultation',"
            " 'vaccination', 'other')",
            name=op.f("ck_appointment_types_type_known"),
        ),
        fk("appointment_types", "practice_id", "practices", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointment_types")),
        sa.UniqueConstraint(
            "practice_id", "appointment_type", name=op.f("uq_appointment_types_kind")
        ),
    )
    op.drop_constraint(op.f("ck_appointments_status_known"), "appointments", type_="check")
    op.create_check_constraint(op.f("ck_appointments_status_known"), "appointments", _NEW_STATUSES)
    op.drop_constraint("ex_appointments_vet_slot", "appointments")
    _exclusion("status NOT IN ('cancelled', 'no_show', 'declined')")
    op.create_index("ix_visits_appointment_date", "visits", ["appointment_id", "visit_date", "id"])
    grant_app_privileges(op.execute)


def downgrade() -> None:
    op.drop_index("ix_visits_appointment_date", table_name="visits")
    op.drop_constraint("ex_appointments_vet_slot", "appointments")
    op.execute("UPDATE appointments SET status = 'scheduled' WHERE status = 'requested'")
    op.execute("UPDATE appointments SET status = 'cancelled' WHERE status = 'declined'")
    _exclusion("status NOT IN ('cancelled', 'no_show')")
    op.drop_constraint(op.f("ck_appointments_status_known"), "appointments", type_="check")
    op.create_check_constraint(op.f("ck_appointments_status_known"), "appointments", _OLD_STATUSES)
    op.drop_table("appointment_types")
    op.drop_index("uq_schedule_exceptions_day", table_name="schedule_exceptions")
    op.drop_table("schedule_exceptions")
    op.drop_index("ix_vet_rosters_practice_vet", table_name="vet_rosters")
    op.drop_table("vet_rosters")
    op.drop_index("ix_opening_hours_practice", table_name="opening_hours")
    op.drop_table("opening_hours")
    op.drop_table("schedule_settings")
