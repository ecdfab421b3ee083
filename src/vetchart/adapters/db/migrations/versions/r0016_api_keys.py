"""api keys: a practice's credentials for its integrations

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 22:00:00

- api_keys: one row per key of a practice: its public id (unique), name, the SHA-256 of
  its secret (never the secret), the actions it is scoped to, who made it, when it was
  last used, revoked, and when it expires.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from vetchart.adapters.db.migrations.ddl import fk, timestamp
from vetchart.adapters.db.privileges import grant_app_privileges

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("public_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(), nullable=False),
        sa.Column("scopes", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        timestamp("created_at", nullable=False),
        timestamp("last_used_at"),
        timestamp("revoked_at"),
        timestamp("expires_at"),
        sa.CheckConstraint("cardinality(scopes) > 0", name=op.f("ck_api_keys_scopes_not_empty")),
        sa.CheckConstraint(
            "octet_length(secret_hash) = 32", name=op.f("ck_api_keys_secret_hash_sha256")
        ),
        fk("api_keys", "practice_id", "practices", "RESTRICT"),
        fk("api_keys", "created_by", "users", "RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("public_id", name=op.f("uq_api_keys_public_id")),
    )
    op.create_index(
        "ix_api_keys_practice_id_created_at", "api_keys", ["practice_id", "created_at", "id"]
    )
    grant_app_privileges(op.execute)


def downgrade() -> None:
    op.drop_index("ix_api_keys_practice_id_created_at", table_name="api_keys")
    op.drop_table("api_keys")
