"""Small DDL builders that the revisions in ``versions/`` share.

These are frozen: for the same arguments a builder makes the same DDL forever, because
applied revisions call them and must keep emitting exactly what they emitted when they
were applied. Never change what a builder makes; when a new revision needs something
else, it writes it out or a new builder is added beside the old one. Nothing here may
follow the current schema (no import of ``adapters/db/tables.py`` or of the application's
code): a builder takes everything it makes from its arguments.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def fk(table: str, column: str, referred: str, ondelete: str) -> sa.ForeignKeyConstraint:
    """``table.column`` references ``referred.id``, with ``ON DELETE ondelete``; the
    constraint is named ``fk_<table>_<column>_<referred>`` (the naming convention)."""
    return sa.ForeignKeyConstraint(
        [column],
        [f"{referred}.id"],
        name=op.f(f"fk_{table}_{column}_{referred}"),
        ondelete=ondelete,
    )


def timestamp(name: str, *, nullable: bool = True) -> sa.Column[object]:
    """A ``timestamp with time zone`` column."""
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def timestamps() -> list[sa.Column[object]]:
    """``created_at`` and ``updated_at``, both NOT NULL, in that order."""
    return [timestamp("created_at", nullable=False), timestamp("updated_at", nullable=False)]
