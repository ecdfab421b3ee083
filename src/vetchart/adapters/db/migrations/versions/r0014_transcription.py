"""visit transcription: who wrote the transcript, the speech-to-text state and provenance

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 13:30:00

Columns of ``visits`` (docs/transcription.md): ``transcript_source`` (client, openai,
local), ``transcription_status`` (not_requested by default), ``transcription_error``,
``transcription`` (JSON provenance: adapter, model, language, duration, segments, the
recording's SHA-256), ``transcription_audio_key`` (the recording the state is about) and
``transcription_attempts``. Existing transcripts came from clients: their source is set
to ``client``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("visits", sa.Column("transcript_source", sa.Text(), nullable=True))
    op.add_column(
        "visits",
        sa.Column(
            "transcription_status", sa.Text(), server_default="not_requested", nullable=False
        ),
    )
    op.add_column("visits", sa.Column("transcription_error", sa.Text(), nullable=True))
    op.add_column(
        "visits",
        sa.Column("transcription", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.add_column("visits", sa.Column("transcription_audio_key", sa.Text(), nullable=True))
    op.add_column(
        "visits",
        sa.Column("transcription_attempts", sa.Integer(), server_default="0", nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_visits_transcription_status_known"),
        "visits",
        "transcription_status IN ('not_requested', 'not_configured', 'pending', "
        "'transcribing', 'done', 'failed')",
    )
    op.create_check_constraint(
        op.f("ck_visits_transcript_source_known"),
        "visits",
        "transcript_source IN ('client', 'openai', 'local')",
    )
    op.execute(
        "UPDATE visits SET transcript_source = 'client' "
        "WHERE transcript_text IS NOT NULL AND transcript_text <> ''"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_visits_transcript_source_known"), "visits", type_="check")
    op.drop_constraint(op.f("ck_visits_transcription_status_known"), "visits", type_="check")
    for column in (
        "transcription_attempts",
        "transcription_audio_key",
        "transcription",
        "transcription_error",
        "transcription_status",
        "transcript_source",
    ):
        op.drop_column("visits", column)
