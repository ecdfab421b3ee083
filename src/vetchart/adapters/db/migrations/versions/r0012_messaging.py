"""messaging: channel consent, the message log, reminder rules and reminders

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 13:30:00

- message_consents: an owner's consent per channel (email, sms); no row is no consent.
- messages: the message log, one row per outbox event and channel (sent, or skipped with
  the reason). recipient, subject and body are the only personal data (nullable, so an
  owner's erasure can clear them).
- reminder_rules: a practice's rules (record type, species or every species, lead days).
- reminders: every reminder made once, by its unique ``dedupe_key``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from vetchart.adapters.db.migrations.ddl import fk, timestamps
from vetchart.adapters.db.privileges import grant_app_privileges

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "message_consents",
        sa.Column("pet_owner_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.Uuid(), nullable=True),
        sa.CheckConstraint(
            "channel IN ('email', 'sms')", name=op.f("ck_message_consents_channel_known")
        ),
        fk("message_consents", "pet_owner_id", "pet_owners", "CASCADE"),
        fk("message_consents", "changed_by", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("pet_owner_id", "channel", name=op.f("pk_message_consents")),
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("pet_owner_id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=True),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("recipient", sa.Text(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("provider_id", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("channel IN ('email', 'sms')", name=op.f("ck_messages_channel_known")),
        sa.CheckConstraint("status IN ('sent', 'skipped')", name=op.f("ck_messages_status_known")),
        sa.CheckConstraint(
            "(status = 'skipped') = (reason IS NOT NULL)",
            name=op.f("ck_messages_skipped_has_reason"),
        ),
        fk("messages", "pet_owner_id", "pet_owners", "CASCADE"),
        fk("messages", "practice_id", "practices", "RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint("event_id", "channel", name=op.f("uq_messages_event_id_channel")),
    )
    op.create_index("ix_messages_owner", "messages", ["pet_owner_id", "created_at", "id"])
    op.create_index(
        "ix_messages_owner_practice",
        "messages",
        ["pet_owner_id", "practice_id", "created_at", "id"],
    )
    op.create_table(
        "reminder_rules",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("record_type", sa.Text(), nullable=False),
        sa.Column("species", sa.Text(), nullable=True),
        sa.Column("lead_days", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        *timestamps(),
        sa.CheckConstraint(
            "cardinality(lead_days) BETWEEN 1 AND 10",
            name=op.f("ck_reminder_rules_lead_days_count"),
        ),
        fk("reminder_rules", "practice_id", "practices", "RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder_rules")),
    )
    op.create_index(
        "ix_reminder_rules_practice", "reminder_rules", ["practice_id", "created_at", "id"]
    )
    op.create_table(
        "reminders",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("dedupe_key", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("pet_owner_id", sa.Uuid(), nullable=False),
        sa.Column("pet_id", sa.Uuid(), nullable=True),
        sa.Column("record_id", sa.Uuid(), nullable=True),
        sa.Column("appointment_id", sa.Uuid(), nullable=True),
        sa.Column("rule_id", sa.Uuid(), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        fk("reminders", "practice_id", "practices", "RESTRICT"),
        fk("reminders", "pet_owner_id", "pet_owners", "CASCADE"),
        fk("reminders", "pet_id", "pets", "CASCADE"),
        fk("reminders", "record_id", "medical_records", "CASCADE"),
        fk("reminders", "appointment_id", "appointments", "CASCADE"),
        fk("reminders", "rule_id", "reminder_rules", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminders")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_reminders_dedupe_key")),
    )
    grant_app_privileges(op.execute)


def downgrade() -> None:
    op.drop_table("reminders")
    op.drop_index("ix_reminder_rules_practice", table_name="reminder_rules")
    op.drop_table("reminder_rules")
    op.drop_index("ix_messages_owner_practice", table_name="messages")
    op.drop_index("ix_messages_owner", table_name="messages")
    op.drop_table("messages")
    op.drop_table("message_consents")
