"""contract: appointments.duration and its trigger go

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 22:50:00

The second half of the expand/contract example (r0017, docs/operations.md): applied once
no process of a release older than r0017's runs. Code that ships this revision serves on
the schema before it too (it declares ``compatibility = "contract"``: it removes only what
this code does not use), so it is rolled out first and this revision applied last.
Downgrading puts the column back, synchronised and backfilled as r0017 made it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Read by readiness (adapters/db/migrate.py): this code serves before it is applied.
compatibility = "contract"


def upgrade() -> None:
    op.execute("DROP TRIGGER appointments_sync_duration ON appointments")
    op.execute("DROP FUNCTION appointments_sync_duration()")
    op.drop_column("appointments", "duration")


def downgrade() -> None:
    expand = context.script.get_revision(str(down_revision)).module  # r0017's own SQL
    op.add_column("appointments", sa.Column("duration", sa.Interval(), nullable=True))
    op.execute(expand.SYNC_FUNCTION)
    op.execute(expand.SYNC_TRIGGER)
    expand.backfill()
