"""appointments (no double booking), visits with audio, medical-record attachments

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 11:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from vetchart.adapters.db.migrations.ddl import fk, timestamps
from vetchart.adapters.db.privileges import grant_app_privileges

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "appointments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("pet_owner_id", sa.Uuid(), nullable=False),
        sa.Column("assigned_vet_id", sa.Uuid(), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("appointment_type", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        *timestamps(),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.CheckConstraint("end_at > start_at", name=op.f("ck_appointments_ends_after_start")),
        sa.CheckConstraint(
            "duration_minutes BETWEEN 5 AND 720", name=op.f("ck_appointments_duration_range")
        ),
        sa.CheckConstraint(
            "status IN ('scheduled', 'confirmed', 'checked_in', 'in_progress', 'completed',"
            " 'cancelled', 'no_show')",
            name=op.f("ck_appointments_status_known"),
        ),
        fk("appointments", "assigned_vet_id", "users", "RESTRICT"),
        fk("appointments", "created_by", "users", "RESTRICT"),
        fk("appointments", "pet_owner_id", "pet_owners", "RESTRICT"),
        fk("appointments", "practice_id", "practices", "RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointments")),
        postgresql.ExcludeConstraint(
            (sa.column("assigned_vet_id"), "="),
            (sa.text("tstzrange(start_at, end_at, '[)')"), "&&"),
            using="gist",
            where=sa.text("status NOT IN ('cancelled', 'no_show')"),
            name="ex_appointments_vet_slot",
        ),
    )
    op.create_index(
        "ix_appointments_practice_start", "appointments", ["practice_id", "start_at", "id"]
    )
    op.create_index(
        "ix_appointments_owner_start", "appointments", ["pet_owner_id", "start_at", "id"]
    )
    op.create_index("ix_appointments_vet_start", "appointments", ["assigned_vet_id", "start_at"])
    op.create_table(
        "appointment_pets",
        sa.Column("appointment_id", sa.Uuid(), nullable=False),
        sa.Column("pet_id", sa.Uuid(), nullable=False),
        fk("appointment_pets", "appointment_id", "appointments", "CASCADE"),
        fk("appointment_pets", "pet_id", "pets", "RESTRICT"),
        sa.PrimaryKeyConstraint("appointment_id", "pet_id", name=op.f("pk_appointment_pets")),
    )
    op.create_index("ix_appointment_pets_pet", "appointment_pets", ["pet_id", "appointment_id"])
    op.create_table(
        "visits",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("pet_id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("appointment_id", sa.Uuid(), nullable=True),
        sa.Column("visit_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("transcript_text", sa.Text(), nullable=True),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("audio_key", sa.Text(), nullable=True),
        sa.Column("audio_content_type", sa.Text(), nullable=True),
        sa.Column("audio_size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("audio_sha256", sa.Text(), nullable=True),
        sa.Column("audio_file_name", sa.Text(), nullable=True),
        sa.Column("audio_pending_key", sa.Text(), nullable=True),
        sa.Column("summary", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("summary_record_id", sa.Uuid(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        *timestamps(),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.CheckConstraint(
            "state IN ('new', 'processing', 'processed', 'failed')",
            name=op.f("ck_visits_state_known"),
        ),
        sa.CheckConstraint(
            "(audio_key IS NULL) = (audio_sha256 IS NULL)", name=op.f("ck_visits_audio_complete")
        ),
        fk("visits", "appointment_id", "appointments", "RESTRICT"),
        fk("visits", "created_by", "users", "RESTRICT"),
        fk("visits", "pet_id", "pets", "RESTRICT"),
        fk("visits", "practice_id", "practices", "RESTRICT"),
        fk("visits", "summary_record_id", "medical_records", "RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visits")),
    )
    op.create_index("ix_visits_pet_date", "visits", ["pet_id", "visit_date", "id"])
    op.create_index("ix_visits_practice_state", "visits", ["practice_id", "state", "visit_date"])
    op.create_index(
        "ix_visits_audio_key",
        "visits",
        ["audio_key"],
        postgresql_where=sa.text("audio_key IS NOT NULL"),
    )
    op.create_index(
        "ix_visits_audio_pending_key",
        "visits",
        ["audio_pending_key"],
        postgresql_where=sa.text("audio_pending_key IS NOT NULL"),
    )
    op.create_table(
        "record_attachments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("object_key", sa.Text(), nullable=False),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("content_type", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        fk("record_attachments", "created_by", "users", "RESTRICT"),
        fk("record_attachments", "practice_id", "practices", "RESTRICT"),
        fk("record_attachments", "record_id", "medical_records", "RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record_attachments")),
        sa.UniqueConstraint("object_key", name="uq_record_attachments_object_key"),
    )
    op.create_index(
        "ix_record_attachments_record", "record_attachments", ["record_id", "created_at", "id"]
    )
    grant_app_privileges(op.execute)


def downgrade() -> None:
    op.drop_index("ix_record_attachments_record", table_name="record_attachments")
    op.drop_table("record_attachments")
    for index in (
        "ix_visits_audio_pending_key",
        "ix_visits_audio_key",
        "ix_visits_practice_state",
        "ix_visits_pet_date",
    ):
        op.drop_index(index, table_name="visits")
    op.drop_table("visits")
    op.drop_index("ix_appointment_pets_pet", table_name="appointment_pets")
    op.drop_table("appointment_pets")
    for index in (
        "ix_appointments_vet_start",
        "ix_appointments_owner_start",
        "ix_appointments_practice_start",
    ):
        op.drop_index(index, table_name="appointments")
    op.drop_table("appointments")
