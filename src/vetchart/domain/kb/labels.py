"""Knowledge-base labels: the vocabulary of a document's species, symptoms, body system,
audience and type, validated into canonical form (``Labels``), and the search filter
over them (``LabelFilter``)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal, Self

from vetchart.domain.errors import RuleViolation
from vetchart.domain.input_bounds import check_max_length

Audience = Literal["expert", "pet-owner"]
AUDIENCES: Final[tuple[Audience, ...]] = ("expert", "pet-owner")
_AUDIENCE_ALIASES: Final[Mapping[str, Audience]] = {
    "expert": "expert",
    "vet": "expert",
    "veterinarian": "expert",
    "professional": "expert",
    "staff": "expert",
    "pet-owner": "pet-owner",
    "pet owner": "pet-owner",
    "pet_owner": "pet-owner",
    "owner": "pet-owner",
    "client": "pet-owner",
}
MAX_LABEL_LENGTH: Final = 64
MAX_LABEL_VALUES: Final = 20
# Letters or digits at both ends; inside also spaces, hyphens, underscores, slashes.
_LABEL_RE: Final = re.compile(r"[^\W_](?:[\w /-]*[^\W_])?")


def normalize_label(value: str, *, field: str) -> str:
    """A label value in canonical form: lower-case, single spaces, validated."""
    label = " ".join(value.split()).lower()
    if not label:
        raise RuleViolation(f"The {field} label is empty.", rule="kb.label_empty", field=field)
    check_max_length(
        label, MAX_LABEL_LENGTH, what=f"A {field} label", rule="kb.label_too_long", field=field
    )
    if not _LABEL_RE.fullmatch(label):
        raise RuleViolation(
            f"The {field} label {label!r} may hold only letters, digits, spaces, '-', '_' and '/'.",
            rule="kb.label_invalid",
            field=field,
        )
    return label


def normalize_label_list(values: Iterable[str], *, field: str) -> tuple[str, ...]:
    """Labels of a repeatable field; each item may itself be comma-separated.

    Duplicates are dropped, first occurrence kept (so the order is the caller's).
    """
    seen: dict[str, None] = {}
    for value in values:
        for part in value.split(","):
            if part.strip():
                seen.setdefault(normalize_label(part, field=field), None)
    if len(seen) > MAX_LABEL_VALUES:
        raise RuleViolation(
            f"At most {MAX_LABEL_VALUES} {field} labels are allowed.",
            rule="kb.too_many_labels",
            field=field,
        )
    return tuple(seen)


def parse_audience(value: str) -> Audience:
    """``expert`` or ``pet-owner`` (also accepts vet/owner and similar aliases)."""
    key = " ".join(value.split()).lower()
    audience = _AUDIENCE_ALIASES.get(key)
    if audience is None:
        raise RuleViolation(
            "The audience must be 'expert' or 'pet-owner'.",
            rule="kb.audience_invalid",
            field="audience",
        )
    return audience


def _optional_label(value: str | None, field: str) -> str | None:
    if value is None or not value.strip():
        return None
    return normalize_label(value, field=field)


@dataclass(frozen=True)
class _LabelValues:
    """The five labels, of a document or of a search; :meth:`build` makes validated,
    normalized values."""

    species: tuple[str, ...] = ()
    symptoms: tuple[str, ...] = ()
    body_system: str | None = None
    audience: Audience | None = None
    doc_type: str | None = None

    @classmethod
    def build(
        cls,
        *,
        species: Iterable[str] = (),
        symptoms: Iterable[str] = (),
        body_system: str | None = None,
        audience: str | None = None,
        doc_type: str | None = None,
    ) -> Self:
        return cls(
            species=normalize_label_list(species, field="species"),
            symptoms=normalize_label_list(symptoms, field="symptoms"),
            body_system=_optional_label(body_system, "body_system"),
            audience=parse_audience(audience) if audience and audience.strip() else None,
            doc_type=_optional_label(doc_type, "doc_type"),
        )


@dataclass(frozen=True)
class Labels(_LabelValues):
    """The labels of one reference document. Build validated values with :meth:`build`."""


@dataclass(frozen=True)
class LabelFilter(_LabelValues):
    """A search restriction. ``species`` and ``symptoms`` match when any value is shared
    with the document; the single-valued labels must be equal. Empty means no filter."""

    def is_empty(self) -> bool:
        return not (
            self.species or self.symptoms or self.body_system or self.audience or self.doc_type
        )

    def matches(self, labels: Labels) -> bool:
        if self.species and not set(self.species) & set(labels.species):
            return False
        if self.symptoms and not set(self.symptoms) & set(labels.symptoms):
            return False
        return all(
            wanted is None or wanted == actual
            for wanted, actual in (
                (self.body_system, labels.body_system),
                (self.audience, labels.audience),
                (self.doc_type, labels.doc_type),
            )
        )
