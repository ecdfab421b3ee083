"""What every command shares: the representation of "not sent" in a change.

A command is a frozen dataclass defined next to its rules (``domain/pets.py``'s
``NewPet`` and ``PetChanges``, ...), checked and normalised once when it is built (in its
``__post_init__``, raising a ``DomainError``); the use cases take it as it is. A change
(PATCH) tells "leave as it is" (``UNSET``, the default of every field) from "clear it"
(``None``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import fields, replace
from datetime import datetime
from typing import Any, Final, TypeVar

E = TypeVar("E")


class Unset(enum.Enum):
    """The type of ``UNSET``: a field the caller did not send."""

    UNSET = "unset"

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = Unset.UNSET


def given(command: object) -> dict[str, Any]:
    """The fields the command sets (``UNSET`` ones left out), in declaration order."""
    values = {f.name: getattr(command, f.name) for f in fields(command)}  # type: ignore[arg-type]
    return {name: value for name, value in values.items() if value is not UNSET}


def sent_null(command: object, name: str) -> bool:
    """Whether the caller sent null for a field (its type may say it cannot be: this is
    the check that makes it so)."""
    return getattr(command, name) is None


def normalise(command: object, name: str, how: Callable[[Any], Any]) -> None:
    """Replace a field of a frozen command by its normalised value, when it was sent
    (for ``__post_init__``)."""
    value = getattr(command, name)
    if value is not UNSET:
        object.__setattr__(command, name, how(value))


def stripped(text: object) -> object:
    """Free text without surrounding blanks; blank text is None (anything else as is)."""
    return (text.strip() or None) if isinstance(text, str) else text


def changed_fields(current: object, values: dict[str, Any]) -> list[str]:
    """The names of ``values`` that differ from the entity's (sorted)."""
    return sorted(name for name, value in values.items() if getattr(current, name) != value)


def with_changes(
    current: E, values: dict[str, Any], now: Callable[[], datetime], **also: Any
) -> tuple[E, list[str]]:
    """The entity with ``values`` (and ``also``) set and ``updated_at`` now, with the
    names that changed (sorted); the entity itself and no names when nothing changes (the
    clock is not asked then)."""
    changed = changed_fields(current, values)
    if not changed:
        return current, changed
    return replace(current, **values, **also, updated_at=now()), changed  # type: ignore[type-var]
