"""Bounds on what a request may carry, whatever the field: the rules themselves, free of any
framework (the api turns them into validation errors: ``api/schemas/bounded.py``,
``api/bounded_input.py``, ``api/multipart.py``).

- **Free-form JSON objects** (a medical record's ``data``, a summary's ``edits``): at most
  ``MAX_JSON_OBJECT_BYTES`` serialized (compact UTF-8 JSON, as stored) and
  ``MAX_JSON_DEPTH`` levels of nesting (the object itself is level 1; every object or
  array inside it one more).
- **Storable values**: no NUL character (U+0000) and no unpaired surrogate in any string
  (PostgreSQL text and jsonb cannot hold either), no NaN or infinity in any number (JSON
  has none; Python's parser accepts them).
- **Dates and times**: years ``MIN_YEAR`` to ``MAX_YEAR`` (a veterinary record outside
  them is a typo, and arithmetic near Python's year 9999 overflows).
- **Text encodings** a form may declare: ``TEXT_CHARSETS``.
- **Lengths** of a field's text: ``check_max_length`` (the limits live with their fields).
"""

from __future__ import annotations

import codecs
import json
import math
from collections.abc import Mapping
from typing import Final

from vetchart.domain.errors import RuleViolation

MAX_JSON_OBJECT_BYTES: Final = 64 * 1024
MAX_JSON_DEPTH: Final = 8
MIN_YEAR: Final = 1900
MAX_YEAR: Final = 2200

NUL_CHARACTER: Final = "NUL characters (U+0000) are not allowed"
UNPAIRED_SURROGATE: Final = "unpaired surrogates (U+D800-U+DFFF) are not allowed"
NON_FINITE_NUMBER: Final = "NaN and Infinity are not numbers JSON allows"

# The charsets a form (multipart/form-data, application/x-www-form-urlencoded) may
# declare, by Python codec name (``codecs.lookup(label).name``): the ASCII-compatible,
# stateless encodings of the WHATWG Encoding Standard. One part of a multipart form may
# also declare UTF-16 or UTF-32 (``PART_CHARSETS``): its content is delimited by the
# form, while a whole form in them could not even be split into parts. Anything else is
# refused: UTF-7 (it spells any character, NUL and "<" included, in plain ASCII),
# stateful ISO-2022-*, codecs that are not text encodings at all (hex, base64, rot13,
# zlib, unicode_escape, punycode, idna) and unknown names.
TEXT_CHARSETS: Final = frozenset(
    {
        "utf-8",
        "ascii",
        *(f"iso8859-{n}" for n in (1, 2, 3, 4, 5, 6, 7, 8, 10, 13, 14, 15, 16)),
        *(f"cp{n}" for n in range(1250, 1259)),
        "cp866",
        "cp874",
        "koi8-r",
        "koi8-u",
        "mac-roman",
        "mac-cyrillic",
        "gbk",
        "gb2312",
        "gb18030",
        "big5",
        "euc_jp",
        "shift_jis",
        "euc_kr",
    }
)


PART_CHARSETS: Final = TEXT_CHARSETS | {
    "utf-16",
    "utf-16-le",
    "utf-16-be",
    "utf-32",
    "utf-32-le",
    "utf-32-be",
}


def check_max_length(text: str, limit: int, *, what: str, rule: str, field: str) -> None:
    """A text of more than ``limit`` characters is refused: "{what} is longer than
    {limit} characters." (``RuleViolation``)."""
    if len(text) > limit:
        raise RuleViolation(f"{what} is longer than {limit} characters.", rule=rule, field=field)


def text_charset(label: str, *, part: bool = False) -> str | None:
    """The Python codec of a declared charset when it is one of ``TEXT_CHARSETS`` (or of
    ``PART_CHARSETS``, for one part of a multipart form)."""
    cleaned = label.strip().strip('"').strip()
    if not cleaned or len(cleaned) > 40:
        return None
    try:
        name = codecs.lookup(cleaned).name
    except LookupError:
        return None
    return name if name in (PART_CHARSETS if part else TEXT_CHARSETS) else None


# --------------------------------------------------------------------------- JSON objects


def json_depth_exceeds(value: object, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether objects and arrays are nested more than ``limit`` levels (``value`` is level
    1 when it is one). Iterative: a deep value cannot exhaust the stack here."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list | tuple):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in item)
    return False


def json_size(value: object) -> int:
    """Bytes of ``value`` as compact UTF-8 JSON (how it is stored and sent back)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return len(text.encode("utf-8", errors="surrogatepass"))


def json_object_problem(value: object) -> str | None:
    """Why a free-form JSON object is too big, or None when it is within bounds."""
    if json_depth_exceeds(value):
        return (
            f"is nested more than {MAX_JSON_DEPTH} levels deep "
            f"(at most {MAX_JSON_DEPTH}, the object itself included)"
        )
    size = json_size(value)
    if size > MAX_JSON_OBJECT_BYTES:
        return (
            f"is {size} bytes as JSON; at most {MAX_JSON_OBJECT_BYTES} bytes "
            f"({MAX_JSON_OBJECT_BYTES // 1024} KiB) are allowed"
        )
    return None


# --------------------------------------------------------------------------- storable values


def text_problem(text: str) -> str | None:
    """Why a string cannot be stored as text, or None."""
    if "\x00" in text:
        return NUL_CHARACTER
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return UNPAIRED_SURROGATE
    return None


def _value_problem(item: object) -> str | None:
    if isinstance(item, str):
        return text_problem(item)
    if isinstance(item, float) and not math.isfinite(item):
        return NON_FINITE_NUMBER
    return None


def _has_unstorable(value: object) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and text_problem(key) is not None:
                    return True
                stack.append(child)
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif _value_problem(item) is not None:
            return True
    return False


Path = tuple[str | int, ...]


def unstorable_value(value: object) -> tuple[Path, str] | None:
    """The first string (key or value) or number anywhere in ``value`` (parsed JSON: dicts,
    lists, scalars) that cannot be stored, with its path and the reason; None when there
    is none. The common case (nothing found) walks once and builds no paths."""
    if not _has_unstorable(value):
        return None
    stack: list[tuple[Path, object]] = [((), value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and (reason := text_problem(key)) is not None:
                    return (*path, key), f"{reason} (in a key)"
                stack.append(((*path, key), child))
        elif isinstance(item, list | tuple):
            stack.extend(((*path, index), child) for index, child in enumerate(item))
        elif (reason := _value_problem(item)) is not None:
            return path, reason
    return None  # pragma: no cover - _has_unstorable found one


def printable_path(path: Path) -> str:
    """``data.notes[2]``; a NUL or surrogate in a key is shown escaped."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            shown = part.encode("utf-8", errors="backslashreplace").decode("utf-8")
            shown = shown.replace("\x00", "\\u0000")
            out += f".{shown}" if out else shown
    return out


# --------------------------------------------------------------------------- dates


def year_problem(year: int) -> str | None:
    if MIN_YEAR <= year <= MAX_YEAR:
        return None
    return f"the year must be from {MIN_YEAR} to {MAX_YEAR}"
