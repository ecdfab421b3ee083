"""expand: appointments.duration (an interval) beside duration_minutes; schema_compatibility

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 22:50:00

The worked example of an expand/contract change (docs/operations.md, "Zero-downtime
migrations"), in two revisions: this one only adds, so the code of the release before it
keeps serving on it; r0018 (contract) removes.

- ``schema_compatibility``: one row per applied *expand* revision, naming the revision
  before it. Readiness (adapters/db/health.py) of code that does not know a revision the
  database is at reads it: a database ahead only by declared expand revisions is still
  "at a compatible schema", so old processes stay in the load balancer during a rollout.
- ``appointments.duration``: the appointment's length as an ``interval``, kept equal to
  ``end_at - start_at`` by a trigger on every insert and update (old code does not know the
  column and never writes it), backfilled in batches of ``BATCH`` rows (each its own short
  statement: no long lock on a big table).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vetchart.adapters.db.privileges import grant_app_privileges

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Read by readiness (adapters/db/migrate.py): the code before this revision serves on it.
compatibility = "expand"

BATCH = 5000

SYNC_FUNCTION = """
CREATE FUNCTION appointments_sync_duration() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.duration := NEW.end_at - NEW.start_at;
    RETURN NEW;
END
$$
"""
SYNC_TRIGGER = (
    "CREATE TRIGGER appointments_sync_duration BEFORE INSERT OR UPDATE OF start_at, end_at"
    " ON appointments FOR EACH ROW EXECUTE FUNCTION appointments_sync_duration()"
)


def upgrade() -> None:
    op.create_table(
        "schema_compatibility",
        sa.Column("revision", sa.Text(), nullable=False),
        sa.Column("down_revision", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.CheckConstraint("kind IN ('expand')", name=op.f("ck_schema_compatibility_kind_known")),
        sa.PrimaryKeyConstraint("revision", name=op.f("pk_schema_compatibility")),
    )
    op.execute(
        sa.text(
            "INSERT INTO schema_compatibility (revision, down_revision, kind)"
            " VALUES (:revision, :down_revision, 'expand')"
        ).bindparams(revision=revision, down_revision=str(down_revision))
    )
    op.add_column("appointments", sa.Column("duration", sa.Interval(), nullable=True))
    op.execute(SYNC_FUNCTION)
    op.execute(SYNC_TRIGGER)
    backfill()
    grant_app_privileges(op.execute)


def backfill() -> None:
    """Fill ``duration`` where it is missing, ``BATCH`` rows per statement, until none is."""
    bind = op.get_bind()
    while True:
        done = bind.execute(
            sa.text(
                "UPDATE appointments SET duration = end_at - start_at WHERE id IN"
                " (SELECT id FROM appointments WHERE duration IS NULL LIMIT :batch"
                "  FOR UPDATE SKIP LOCKED)"
            ).bindparams(batch=BATCH)
        ).rowcount
        if not done:
            return


def downgrade() -> None:
    op.execute("DROP TRIGGER appointments_sync_duration ON appointments")
    op.execute("DROP FUNCTION appointments_sync_duration()")
    op.drop_column("appointments", "duration")
    op.drop_table("schema_compatibility")
