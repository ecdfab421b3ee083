"""Domain objects to and from table rows, by one rule: a field is the column of its name,
and an enum field is stored as its value (None stays None). Other conversions are named
per column (``read``: row value to field, ``write``: field to row value; both skip None).
What is not a column of the same name (a visit's audio, an appointment's pets) the
adapter gives itself (``entity(row, **given)``, ``values(entity, **given)``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import fields
from enum import Enum
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import Column, Table

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T")
Convert = Callable[[Any], Any]


def columns_of(table: Table, *, without: Iterable[str] = ()) -> list[str]:
    left_out = set(without)
    return [column.name for column in table.c if column.name not in left_out]


def columns_for(table: Table, record: type[DataclassInstance]) -> list[Column[Any]]:
    """The table's columns a dataclass is read from: one per field, in the fields' order."""
    return [table.c[field.name] for field in fields(record)]


class EntityRows(Generic[T]):
    def __init__(
        self,
        entity: Callable[..., T],
        columns: Iterable[str],
        *,
        enums: Mapping[str, type[Enum]] | None = None,
        read: Mapping[str, Convert] | None = None,
        write: Mapping[str, Convert] | None = None,
    ) -> None:
        self._entity = entity
        self.columns = tuple(columns)
        enums = enums or {}
        self._read: dict[str, Convert] = {**enums, **(read or {})}
        self._write: dict[str, Convert] = dict.fromkeys(enums, _enum_value)
        self._write.update(write or {})

    def entity(self, row: Mapping[Any, Any], **given: Any) -> T:
        """The object of a row (``given``: its fields that are not columns)."""
        values = {name: row[name] for name in self.columns}
        for name, convert in self._read.items():
            if values[name] is not None:
                values[name] = convert(values[name])
        return self._entity(**values, **given)

    def values(self, entity: T, **given: Any) -> dict[str, Any]:
        """The row of an object (``given``: columns that are not its fields)."""
        values = {name: getattr(entity, name) for name in self.columns}
        for name, convert in self._write.items():
            if values[name] is not None:
                values[name] = convert(values[name])
        values.update(given)
        return values

    def updated(self, entity: T, **given: Any) -> dict[str, Any]:
        """The row of an object for an UPDATE: never its id nor its creation time."""
        values = self.values(entity, **given)
        del values["id"], values["created_at"]
        return values


def _enum_value(member: Enum) -> Any:
    return member.value
