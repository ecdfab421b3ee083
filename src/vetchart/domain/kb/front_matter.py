"""A reference document's front matter: its labels, title and source, split from its
body (``parse_front_matter``).

The format (a strict subset of YAML, parsed by :func:`parse_front_matter`)::

    ---
    title: Canine parvovirus
    species: [dog]                  # a list: [a, b], "a, b", or "- a" items below
    symptoms: vomiting, diarrhoea, lethargy
    body_system: gastrointestinal
    audience: pet-owner             # expert | pet-owner (aliases: vet, owner)
    doc_type: condition
    source_url: https://example.org/parvo
    ---

The block must start on the first line with ``---`` and end with a line ``---``. Each
line is ``key: value``; a value may be quoted with ``"`` or ``'``; ``#`` after a space
starts a comment; a key with an empty value may be followed by ``- item`` lines. Keys
are lower-case; unknown keys are kept in ``FrontMatter.extra``; a repeated key is an
error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from vetchart.domain.errors import RuleViolation
from vetchart.domain.kb.labels import Labels

_LIST_FIELDS: Final = frozenset({"species", "symptoms"})
_KNOWN_FIELDS: Final = frozenset(
    {"title", "species", "symptoms", "body_system", "audience", "doc_type", "source_url"}
)
_FM_KEY_RE: Final = re.compile(r"([a-z][a-z0-9_]*)[ \t]*:(?:[ \t]+(.*))?")
_FM_ITEM_RE: Final = re.compile(r"[ \t]+-[ \t]+(.*)|-[ \t]+(.*)")
MAX_FRONT_MATTER_LINES: Final = 100


@dataclass(frozen=True)
class FrontMatter:
    labels: Labels
    title: str | None
    source_url: str | None
    extra: Mapping[str, str | tuple[str, ...]]
    body: str
    # Where ``body`` starts in the original text (0 when there is no front matter).
    body_offset: int


def _fm_scalar(raw: str) -> str:
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1].strip()
    comment = value.find(" #")
    if comment >= 0:
        value = value[:comment]
    return value.strip()


def _fm_list(raw: str) -> tuple[str, ...]:
    value = _fm_scalar(raw)
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    return tuple(_fm_scalar(part) for part in value.split(",") if part.strip())


def _fm_error(detail: str, line_number: int) -> RuleViolation:
    return RuleViolation(
        f"Front matter line {line_number}: {detail}",
        rule="kb.front_matter_invalid",
        field="front_matter",
    )


def parse_front_matter(text: str) -> FrontMatter:
    """Split a document into its front-matter labels and its body (see module doc)."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return FrontMatter(Labels(), None, None, {}, text, 0)
    values: dict[str, str | list[str]] = {}
    current_list: str | None = None
    offset = len(lines[0])
    for number, line in enumerate(lines[1:], start=2):
        offset += len(line)
        stripped = line.strip()
        if number > MAX_FRONT_MATTER_LINES:
            raise _fm_error("the block is not closed with '---'.", 1)
        if stripped == "---":
            break
        if not stripped or stripped.startswith("#"):
            continue
        item = _FM_ITEM_RE.fullmatch(line.rstrip("\r\n"))
        if item is not None:
            if current_list is None:
                raise _fm_error("a '- item' line must follow a 'key:' line.", number)
            entry = values[current_list]
            assert isinstance(entry, list)
            entry.append(_fm_scalar(item.group(1) or item.group(2) or ""))
            continue
        match = _FM_KEY_RE.fullmatch(line.rstrip("\r\n").rstrip())
        if match is None:
            raise _fm_error("expected 'key: value'.", number)
        key, raw = match.group(1), match.group(2) or ""
        if key in values:
            raise _fm_error(f"the key {key!r} is repeated.", number)
        if raw.strip():
            values[key] = raw
            current_list = None
        else:
            values[key] = []
            current_list = key
    else:
        raise _fm_error("the block is not closed with '---'.", 1)

    def as_list(key: str) -> tuple[str, ...]:
        value = values.get(key)
        if value is None:
            return ()
        return tuple(value) if isinstance(value, list) else _fm_list(value)

    def as_scalar(key: str) -> str | None:
        value = values.get(key)
        if value is None:
            return None
        if isinstance(value, list):
            if key in _KNOWN_FIELDS and value:
                raise _fm_error(f"{key!r} takes a single value, not a list.", 1)
            return None
        return _fm_scalar(value) or None

    labels = Labels.build(
        species=as_list("species"),
        symptoms=as_list("symptoms"),
        body_system=as_scalar("body_system"),
        audience=as_scalar("audience"),
        doc_type=as_scalar("doc_type"),
    )
    extra: dict[str, str | tuple[str, ...]] = {}
    for key, value in values.items():
        if key not in _KNOWN_FIELDS:
            extra[key] = tuple(value) if isinstance(value, list) else _fm_scalar(value)
    return FrontMatter(
        labels=labels,
        title=as_scalar("title"),
        source_url=as_scalar("source_url"),
        extra=extra,
        body=text[offset:],
        body_offset=offset,
    )
