"""The revisions' shared DDL builders make, to the letter, what the applied revisions made.

``adapters/db/migrations/ddl.py`` is called by revisions that databases have already
applied. A fresh database replays the builders as they are today, so a change to one
would pass the models-vs-migrations test while every database built earlier kept the old
DDL: the drift this test stops. Change a builder only by adding a new one beside it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy.dialects import postgresql

from vetchart.adapters.db.migrations.ddl import fk, timestamp, timestamps


@pytest.fixture(autouse=True)
def _alembic_operations() -> Iterator[None]:
    """``op.f`` (the constraint names) needs the proxy alembic installs for a revision."""
    with Operations.context(MigrationContext.configure(dialect_name="postgresql")):
        yield


def _create_table(*parts: sa.Column[object] | sa.ForeignKeyConstraint) -> str:
    metadata = sa.MetaData()
    sa.Table("owners", metadata, sa.Column("id", sa.Uuid, primary_key=True))
    table = sa.Table("things", metadata, sa.Column("id", sa.Uuid, primary_key=True), *parts)
    return str(sa.schema.CreateTable(table).compile(dialect=postgresql.dialect())).strip()


def test_timestamps_are_two_not_null_timestamptz_columns_in_order() -> None:
    assert _create_table(*timestamps()) == (
        "CREATE TABLE things (\n"
        "\tid UUID NOT NULL, \n"
        "\tcreated_at TIMESTAMP WITH TIME ZONE NOT NULL, \n"
        "\tupdated_at TIMESTAMP WITH TIME ZONE NOT NULL, \n"
        "\tPRIMARY KEY (id)\n"
        ")"
    )


def test_a_timestamp_is_nullable_unless_told() -> None:
    assert _create_table(timestamp("seen_at"), timestamp("due_at", nullable=False)) == (
        "CREATE TABLE things (\n"
        "\tid UUID NOT NULL, \n"
        "\tseen_at TIMESTAMP WITH TIME ZONE, \n"
        "\tdue_at TIMESTAMP WITH TIME ZONE NOT NULL, \n"
        "\tPRIMARY KEY (id)\n"
        ")"
    )


@pytest.mark.parametrize("ondelete", ["CASCADE", "RESTRICT", "SET NULL"])
def test_a_foreign_key_references_the_id_under_the_conventional_name(ondelete: str) -> None:
    owner = sa.Column("owner_id", sa.Uuid)
    assert _create_table(owner, fk("things", "owner_id", "owners", ondelete)) == (
        "CREATE TABLE things (\n"
        "\tid UUID NOT NULL, \n"
        "\towner_id UUID, \n"
        "\tPRIMARY KEY (id), \n"
        "\tCONSTRAINT fk_things_owner_id_owners FOREIGN KEY(owner_id) "
        f"REFERENCES owners (id) ON DELETE {ondelete}\n"
        ")"
    )
