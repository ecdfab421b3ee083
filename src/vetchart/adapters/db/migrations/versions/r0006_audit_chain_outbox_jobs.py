"""audit hash chains, outbox, handled events, the job queue and the application role

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 10:40:00

- audit_events gains the pet it concerns and its place in a hash chain (existing rows are
  chained here, in their time order, so `vetchart audit verify` covers them too);
- audit_chains holds each chain's head;
- outbox_events / handled_events: domain events saved with the transaction that raised
  them, and which handler already handled which event;
- the procrastinate job queue schema (procrastinate 3.10: upgrading procrastinate means a
  new revision applying its migration scripts);
- the least-privilege application role (vetchart.adapters.db.privileges).
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from procrastinate.schema import SchemaManager
from sqlalchemy.dialects import postgresql
from sqlalchemy.util import await_only

from vetchart.adapters.db.privileges import (
    ensure_app_role,
    grant_app_privileges,
    revoke_app_privileges,
)
from vetchart.domain.audit import AUDIT_CHAINS, GENESIS_HASH, ChainedRow, legacy_chain_hash

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHAIN_COLUMNS = ("chain", "seq", "prev_hash", "hash")


def _execute(statement: str) -> None:
    op.execute(statement)


def _run_script(sql: str) -> None:
    """A multi-statement script, run through the driver's simple-query protocol."""
    raw = op.get_bind().connection.dbapi_connection
    assert raw is not None
    await_only(raw.driver_connection.execute(sql))


def _chain_existing_rows() -> None:
    """Put the rows written before this revision on chain 0, oldest first."""
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT id, occurred_at, actor_id, actor_role, practice_id, action, resource_type,"
            " resource_id, outcome, request_id, client_address, user_agent, details"
            " FROM audit_events ORDER BY occurred_at, id"
        ).columns(sa.column("details", postgresql.JSONB()))
    ).mappings()
    previous = GENESIS_HASH
    updates: list[dict[str, Any]] = []
    for seq, row in enumerate(rows, start=1):
        chained = ChainedRow(**dict(row), pet_id=None, chain=0, seq=seq)
        digest = legacy_chain_hash(previous, chained)
        updates.append({"id": row["id"], "seq": seq, "prev": previous, "hash": digest})
        previous = digest
    if updates:
        op.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
        bind.execute(
            sa.text(
                "UPDATE audit_events SET chain = 0, seq = :seq, prev_hash = :prev, hash = :hash"
                " WHERE id = :id"
            ),
            updates,
        )
        op.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only")
    heads = [{"chain": chain, "seq": 0, "hash": GENESIS_HASH} for chain in range(AUDIT_CHAINS)]
    heads[0] = {"chain": 0, "seq": len(updates), "hash": previous}
    bind.execute(
        sa.text("INSERT INTO audit_chains (chain, seq, hash) VALUES (:chain, :seq, :hash)"), heads
    )


def upgrade() -> None:
    op.add_column("audit_events", sa.Column("pet_id", sa.Uuid(), nullable=True))
    op.add_column("audit_events", sa.Column("chain", sa.SmallInteger(), nullable=True))
    op.add_column("audit_events", sa.Column("seq", sa.BigInteger(), nullable=True))
    op.add_column("audit_events", sa.Column("prev_hash", sa.LargeBinary(), nullable=True))
    op.add_column("audit_events", sa.Column("hash", sa.LargeBinary(), nullable=True))
    op.create_table(
        "audit_chains",
        sa.Column("chain", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("chain", name=op.f("pk_audit_chains")),
    )
    _chain_existing_rows()
    for column in _CHAIN_COLUMNS:
        op.alter_column("audit_events", column, nullable=False)
    op.create_unique_constraint("uq_audit_events_chain_seq", "audit_events", ["chain", "seq"])
    op.create_index(
        "ix_audit_events_action_occurred", "audit_events", ["action", "occurred_at", "id"]
    )
    op.create_index(
        "ix_audit_events_pet_occurred",
        "audit_events",
        ["pet_id", "occurred_at", "id"],
        postgresql_where=sa.text("pet_id IS NOT NULL"),
    )
    op.create_table(
        "outbox_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_events")),
    )
    op.create_index("ix_outbox_events_occurred_at", "outbox_events", ["occurred_at"])
    op.create_table(
        "handled_events",
        sa.Column("handler", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("handler", "event_id", name=op.f("pk_handled_events")),
    )
    _run_script(SchemaManager.get_schema())
    ensure_app_role(_execute)
    grant_app_privileges(_execute)


def downgrade() -> None:
    revoke_app_privileges(_execute)
    _run_script(
        """
        DO $$
        DECLARE item record;
        BEGIN
            FOR item IN SELECT tablename FROM pg_tables
                        WHERE schemaname = 'public' AND tablename LIKE 'procrastinate%'
            LOOP
                EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', item.tablename);
            END LOOP;
            FOR item IN SELECT p.oid::regprocedure AS signature FROM pg_proc p
                        JOIN pg_namespace n ON n.oid = p.pronamespace
                        WHERE n.nspname = 'public' AND p.proname LIKE 'procrastinate%'
            LOOP
                EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', item.signature);
            END LOOP;
            FOR item IN SELECT t.typname FROM pg_type t
                        JOIN pg_namespace n ON n.oid = t.typnamespace
                        WHERE n.nspname = 'public' AND t.typname LIKE 'procrastinate%'
                          AND t.typtype IN ('e', 'c')
            LOOP
                EXECUTE format('DROP TYPE IF EXISTS %I CASCADE', item.typname);
            END LOOP;
        END
        $$;
        """
    )
    op.drop_table("handled_events")
    op.drop_index("ix_outbox_events_occurred_at", table_name="outbox_events")
    op.drop_table("outbox_events")
    op.drop_index("ix_audit_events_pet_occurred", table_name="audit_events")
    op.drop_index("ix_audit_events_action_occurred", table_name="audit_events")
    op.drop_constraint("uq_audit_events_chain_seq", "audit_events", type_="unique")
    for column in reversed(_CHAIN_COLUMNS):
        op.drop_column("audit_events", column)
    op.drop_column("audit_events", "pet_id")
    op.drop_table("audit_chains")
