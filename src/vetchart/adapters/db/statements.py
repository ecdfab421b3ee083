"""Statements built once and reused, so SQLAlchemy's statement cache can serve them.

Building a Core statement with its values (``update(t).values(**row)``) costs hundreds of
microseconds per execution: every value is coerced into a bound parameter and the
statement's cache key is computed anew. An amendment paid that for each of its writes,
more than for the rest of the request together (bench/REPORT.md). A statement whose values
are named parameters (``bindparam``) is built once here, memoised by its shape, and
executed with a dict of values: its cache key is computed once, its compiled form cached.

``insert(t).values([row, row])`` (a multi-row VALUES) is never cached by SQLAlchemy; the
rare units of work that write several rows of one kind still use it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Insert, Table, bindparam, insert

_SHAPES = 256


@lru_cache(maxsize=_SHAPES)
def insert_one(table: Table, columns: tuple[str, ...], prefix: str) -> Insert:
    """``INSERT INTO table (columns) VALUES (:<prefix><column>, ...)``."""
    return insert(table).values({name: bindparam(prefix + name) for name in columns})


def bound(row: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """The row's values named as :func:`insert_one` names its parameters."""
    return {prefix + name: value for name, value in row.items()}


def multi_row_insert(table: Table, rows: Sequence[Mapping[str, Any]]) -> Insert:
    """An INSERT of several rows (built, and compiled, on each execution)."""
    if not rows:
        raise ValueError("nothing to insert")
    return insert(table).values(list(rows))
