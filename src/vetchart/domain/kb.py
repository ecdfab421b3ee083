"""Knowledge base and visit summaries: the text rules, pure and deterministic.

Everything here is plain Python over strings: label vocabulary and front matter,
chunking of reference documents, sentence splitting, a light English stemmer, rank
fusion, a small BM25 ranking (for in-memory use and tests), the extractive answer
composer, and the keyword-cue visit-summary extractor with provenance spans.

Front matter format (a strict subset of YAML, parsed by :func:`parse_front_matter`)::

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

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal, TypeVar, cast

from vetchart.domain.errors import RuleViolation

K = TypeVar("K", bound=Hashable)

# --------------------------------------------------------------------------- labels

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
    if len(label) > MAX_LABEL_LENGTH:
        raise RuleViolation(
            f"A {field} label is longer than {MAX_LABEL_LENGTH} characters.",
            rule="kb.label_too_long",
            field=field,
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
class Labels:
    """The labels of one reference document. Build validated values with :meth:`build`."""

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
    ) -> Labels:
        return cls(
            species=normalize_label_list(species, field="species"),
            symptoms=normalize_label_list(symptoms, field="symptoms"),
            body_system=_optional_label(body_system, "body_system"),
            audience=parse_audience(audience) if audience and audience.strip() else None,
            doc_type=_optional_label(doc_type, "doc_type"),
        )


@dataclass(frozen=True)
class LabelFilter:
    """A search restriction. ``species`` and ``symptoms`` match when any value is shared
    with the document; the single-valued labels must be equal. Empty means no filter."""

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
    ) -> LabelFilter:
        labels = Labels.build(
            species=species,
            symptoms=symptoms,
            body_system=body_system,
            audience=audience,
            doc_type=doc_type,
        )
        return cls(
            species=labels.species,
            symptoms=labels.symptoms,
            body_system=labels.body_system,
            audience=labels.audience,
            doc_type=labels.doc_type,
        )

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


# --------------------------------------------------------------------------- front matter

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


# --------------------------------------------------------------------------- sentences

_ABBREVIATIONS: Final = frozenset(
    {"e.g", "i.e", "eg", "ie", "dr", "mr", "mrs", "ms", "prof", "st", "vs", "approx", "fig"}
    | {"no", "cf", "al", "inc", "ltd", "resp", "ca", "incl", "esp", "dept", "vet"}
)
_SENTENCE_END_RE: Final = re.compile(r"[.!?]+[\"')\]\u201d\u2019]*(?=\s|$)")
_BULLET_RE: Final = re.compile(r"(?:[-*+\u2022]|\d{1,3}[.)])[ \t]+")
_SENTENCE_STARTERS: Final = "\"'([\u201c\u2018"


def _skip_space(text: str, pos: int, end: int) -> int:
    while pos < end and text[pos].isspace():
        pos += 1
    return pos


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _is_abbreviation(text: str, line_start: int, dot: int) -> bool:
    word_start = dot
    while word_start > line_start and not text[word_start - 1].isspace():
        word_start -= 1
    token = text[word_start:dot].lstrip("([\"'").lower()
    if token in _ABBREVIATIONS:
        return True
    # A single initial ("J. Smith") is not the end of a sentence.
    return len(token) == 1 and token.isalpha() and text[dot - 1].isupper()


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence of ``text``, in order, trimmed, never empty.

    Each line is a block of its own (cleaned text keeps one paragraph or list item per
    line); a leading list marker is left out of the span. Inside a line, a sentence
    ends at ``.``, ``!`` or ``?`` (and closing quotes) followed by a space and an
    upper-case letter, a digit or an opening quote, except after known abbreviations
    and single initials.
    """
    spans: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n]+", text):
        line_start, line_end = line.span()
        start = _skip_space(text, line_start, line_end)
        bullet = _BULLET_RE.match(text, start, line_end)
        if bullet is not None:
            start = bullet.end()
        for end_match in _SENTENCE_END_RE.finditer(text, start, line_end):
            end = end_match.end()
            following = _skip_space(text, end, line_end)
            if following < line_end:
                char = text[following]
                if not (char.isupper() or char.isdigit() or char in _SENTENCE_STARTERS):
                    continue
            if text[end_match.start()] == "." and _is_abbreviation(
                text, line_start, end_match.start()
            ):
                continue
            span = _trim(text, start, end)
            if span[0] < span[1]:
                spans.append(span)
            start = following
        span = _trim(text, start, line_end)
        if span[0] < span[1]:
            spans.append(span)
    return spans


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text`` (see :func:`sentence_spans`)."""
    return [text[start:end] for start, end in sentence_spans(text)]


# --------------------------------------------------------------------------- terms

_STOP_WORDS_TEXT: Final = """
    a about above after again against all am an and any are as at be because been
    before being below between both but by can could did do does doing done down during
    each few for from further had has have having he her here hers herself him himself
    his how i if in into is it its itself just let me more most my myself no nor not of
    off on once only or other our ours ourselves out over own same she should so some
    such than that the their theirs them themselves then there these they this those
    through to too under until up very was we were what when where which while who whom
    why will with would you your yours yourself yourselves also may might must shall
    ought get gets got tell know please thing things way ok okay yes one two"""
STOP_WORDS: Final = frozenset(_STOP_WORDS_TEXT.split())
_WORD_RE: Final = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_SPELLING: Final[Mapping[str, str]] = {
    "teeth": "tooth",
    "feet": "foot",
    "mice": "mouse",
    "children": "child",
    "faeces": "feces",
    "faecal": "fecal",
    "oedema": "edema",
    "oesophagus": "esophagus",
    "oestrus": "estrus",
    "paediatric": "pediatric",
    "behaviour": "behavior",
    "behaviours": "behavior",
    "tumour": "tumor",
    "tumours": "tumor",
    "colour": "color",
    "odour": "odor",
    "grey": "gray",
}
_SPELLING_FRAGMENTS: Final = (
    ("rrhoea", "rrhea"),
    ("anaem", "anem"),
    ("haem", "hem"),
    ("aesthe", "esthe"),
    ("leukaem", "leukem"),
    ("glycaem", "glycem"),
)
_VOWELS: Final = frozenset("aeiouy")
_STEP2: Final = (
    ("ational", "ate"),
    ("ization", "ize"),
    ("isation", "ize"),
    ("ation", "ate"),
    ("ator", "ate"),
    ("iveness", "ive"),
    ("fulness", "ful"),
    ("ousness", "ous"),
    ("ness", ""),
    ("ment", ""),
    ("ically", "ic"),
    ("ally", "al"),
    ("ly", ""),
    ("ity", ""),
)
_STEP3: Final = ("ary", "ate", "ize", "ise", "ive", "ous", "ful", "ic", "al", "ion", "y", "e")


def _has_vowel(stem: str) -> bool:
    return any(char in _VOWELS for char in stem)


def stem(word: str) -> str:
    """A light, deterministic English stemmer (a much-reduced Porter): enough that
    "vaccination", "vaccinate", "vaccinated" and "vaccines" meet, and British and
    American spellings of common clinical words too. Only for matching, never shown."""
    w = word.lower().replace("\u2019", "'")
    if w.endswith("'s"):
        w = w[:-2]
    w = _SPELLING.get(w, w)
    for british, american in _SPELLING_FRAGMENTS:
        w = w.replace(british, american)
    if len(w) <= 3 or w.isdigit():
        return w
    # Step 1: plurals and -ed/-ing.
    if w.endswith("sses"):
        w = w[:-2]
    elif w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    for suffix in ("ingly", "edly", "ing", "ed"):
        base = w[: -len(suffix)]
        if w.endswith(suffix) and len(base) >= 3 and _has_vowel(base):
            w = base
            if w.endswith(("at", "bl", "iz", "is")):
                w += "e"
            elif len(w) > 3 and w[-1] == w[-2] and w[-1] not in "lsz" + "aeiou":
                w = w[:-1]
            break
    # Step 2: derivational suffixes to a common form.
    for suffix, replacement in _STEP2:
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)] + replacement
            break
    # Step 3: drop a final suffix when a substantial stem remains.
    for suffix in _STEP3:
        if w.endswith(suffix) and len(w) - len(suffix) >= 4:
            if suffix == "ion" and w[-4] not in "st":
                continue
            w = w[: -len(suffix)]
            break
    return w


def terms(text: str) -> list[str]:
    """Stemmed content words of ``text``, in order (stop words and 1-letter words out)."""
    normalized = unicodedata.normalize("NFKC", text).lower().replace("\u2019", "'")
    return [
        stem(word)
        for word in _WORD_RE.findall(normalized)
        if len(word) > 1 and word not in STOP_WORDS and word.split("'")[0] not in STOP_WORDS
    ]


# --------------------------------------------------------------------------- chunking

DEFAULT_CHUNK_CHARS: Final = 1200
DEFAULT_OVERLAP_CHARS: Final = 150
_HEADING_RE: Final = re.compile(r"^(#{1,6})[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$", re.MULTILINE)
_FENCE_RE: Final = re.compile(r"^[ \t]*(```|~~~)", re.MULTILINE)
# Break preferences: a paragraph break if it leaves at least half a chunk, then a line
# break, then a sentence end if it leaves at least this share, then any space.
_PARAGRAPH_MIN_SHARE: Final = 0.5
_SENTENCE_MIN_SHARE: Final = 0.3


@dataclass(frozen=True)
class Chunk:
    """A piece of a document: ``text == source[start:end]``."""

    ordinal: int
    heading_path: tuple[str, ...]
    text: str
    start: int
    end: int

    def contextual_text(self, title: str | None = None) -> str:
        """The text with its title and heading path in front (for embeddings)."""
        context = [part for part in (title, *self.heading_path) if part]
        if not context:
            return self.text
        return f"{' > '.join(context)}\n\n{self.text}"


@dataclass(frozen=True)
class _Section:
    start: int
    end: int
    heading_path: tuple[str, ...]
    body_start: int


def _fenced_ranges(text: str) -> list[tuple[int, int]]:
    fences = [match.start() for match in _FENCE_RE.finditer(text)]
    pairs = list(zip(fences[::2], fences[1::2], strict=False))
    if len(fences) % 2:
        pairs.append((fences[-1], len(text)))
    return pairs


def _sections(text: str) -> list[_Section]:
    fenced = _fenced_ranges(text)
    headings = [
        match
        for match in _HEADING_RE.finditer(text)
        if not any(start <= match.start() < end for start, end in fenced)
    ]
    sections: list[_Section] = []
    first = headings[0].start() if headings else len(text)
    if text[:first].strip():
        sections.append(_Section(0, first, (), 0))
    stack: list[tuple[int, str]] = []
    for index, match in enumerate(headings):
        level, title = len(match.group(1)), " ".join(match.group(2).split())
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, title))
        end = headings[index + 1].start() if index + 1 < len(headings) else len(text)
        sections.append(_Section(match.start(), end, tuple(t for _, t in stack), match.end()))
    # A heading with no text of its own joins the section after it (or, at the very
    # end, the one before it), so no chunk is a bare heading.
    merged: list[_Section] = []
    pending: _Section | None = None
    for section in sections:
        if pending is not None:
            section = _Section(pending.start, section.end, section.heading_path, section.body_start)
            pending = None
        if not text[section.body_start : section.end].strip() and section.heading_path:
            pending = section
            continue
        merged.append(section)
    if pending is not None:
        if merged:
            last = merged[-1]
            merged[-1] = _Section(last.start, pending.end, last.heading_path, last.body_start)
        else:
            merged.append(pending)
    return merged


def _sentence_ends(text: str, start: int, end: int) -> list[int]:
    return [span_end for _, span_end in sentence_spans(text[start:end])]


def _best_break(text: str, start: int, limit: int, max_chars: int) -> int:
    """Where to end a chunk that begins at ``start`` and may not pass ``limit``: always a
    whitespace position, unless one word fills the whole window."""
    window = text[start : limit + 1]
    paragraph = window.rfind("\n\n")
    if paragraph >= max_chars * _PARAGRAPH_MIN_SHARE:
        return start + paragraph
    line = window.rfind("\n")
    if line >= max_chars * _PARAGRAPH_MIN_SHARE:
        return start + line
    ends = [
        pos
        for pos in _sentence_ends(text, start, limit)
        if pos >= max_chars * _SENTENCE_MIN_SHARE
        and start + pos < len(text)
        and text[start + pos].isspace()
    ]
    if ends:
        return start + ends[-1]
    for pos in range(limit, start, -1):
        if text[pos].isspace():
            return pos
    return limit


def _next_start(text: str, start: int, cut: int, overlap: int, sentence_starts: set[int]) -> int:
    """The start of the chunk after one that ended at ``cut``: up to ``overlap`` chars
    back, at the start of a sentence if one is there, else at the start of a word."""
    window_start = max(cut - overlap, start + 1)
    if overlap > 0:
        for pos in range(window_start, cut):
            if pos in sentence_starts:
                return pos
        for pos in range(window_start, cut):
            if not text[pos].isspace() and text[pos - 1].isspace():
                return pos
    return _skip_space(text, cut, len(text))


def _split_section(
    text: str, start: int, end: int, max_chars: int, overlap: int
) -> Iterator[tuple[int, int]]:
    """The spans of one section, lazily (so that a chunk budget stops the work early)."""
    start, end = _trim(text, start, end)
    starts_cache: set[int] | None = None
    while start < end:
        if end - start <= max_chars:
            yield (start, end)
            break
        cut = _best_break(text, start, start + max_chars, max_chars)
        span = _trim(text, start, cut)
        if span[0] < span[1]:
            yield span
        if starts_cache is None:
            starts_cache = {s + start for s, _ in sentence_spans(text[start:end])}
        nxt = _next_start(text, start, cut, overlap, starts_cache)
        start = nxt if nxt > start else cut


def chunk_document(
    text: str,
    *,
    max_chars: int = DEFAULT_CHUNK_CHARS,
    overlap_chars: int = DEFAULT_OVERLAP_CHARS,
    max_chunks: int | None = None,
    on_chunk: Callable[[], None] | None = None,
) -> list[Chunk]:
    """Split a (cleaned, markdown-headed) document into chunks of at most ``max_chars``.

    The text is cut first at headings (each chunk knows its heading path), then inside
    a long section at paragraph breaks, line breaks, sentence ends, and spaces, in that
    order of preference. Consecutive chunks of one section share up to
    ``overlap_chars`` characters, starting on a sentence or word boundary. A chunk
    never starts or ends inside a word, except when a single word is longer than
    ``max_chars``. Deterministic: the same text gives the same chunks.

    With ``max_chunks``, raises :class:`IngestBudgetExceeded` as soon as one chunk more
    is found (the rest of the text is not chunked). ``on_chunk`` is called after each
    chunk (the caller's wall-time check; it may raise to stop).
    """
    if max_chars < 50:
        raise ValueError("max_chars must be at least 50")
    if not 0 <= overlap_chars <= max_chars // 2:
        raise ValueError("overlap_chars must be between 0 and max_chars // 2")
    chunks: list[Chunk] = []
    for section in _sections(text):
        for start, end in _split_section(
            text, section.start, section.end, max_chars, overlap_chars
        ):
            if max_chunks is not None and len(chunks) >= max_chunks:
                raise IngestBudgetExceeded("chunks", max_chunks)
            chunks.append(Chunk(len(chunks), section.heading_path, text[start:end], start, end))
            if on_chunk is not None:
                on_chunk()
    return chunks


# --------------------------------------------------------------------------- ingestion budget

# Per-document caps of ingestion (the settings VETCHART_KB_MAX_* override them). A
# document past one of them ends ``failed``: the outcome is the same on every attempt.
DEFAULT_MAX_EXTRACTED_CHARS: Final = 1_000_000
DEFAULT_MAX_PAGES: Final = 500
DEFAULT_MAX_CHUNKS: Final = 2_000
DEFAULT_MAX_INGEST_SECONDS: Final = 120.0

BudgetCap = Literal["characters", "pages", "chunks", "seconds"]


class IngestBudgetExceeded(RuleViolation):
    """A document is past one of its ingestion caps; ``cap`` names which, ``limit`` its
    value. Deterministic for characters, pages and chunks; not worth retrying for time."""

    def __init__(self, cap: BudgetCap, limit: float) -> None:
        shown = f"{limit:g}"
        detail = (
            f"ingestion took more than {shown} seconds"
            if cap == "seconds"
            else f"the document has more than {shown} {cap}"
        )
        super().__init__(
            detail,
            rule="kb.ingest_budget_exceeded",
            field="file",
            extra={"cap": cap, "limit": limit},
        )
        self.cap: BudgetCap = cap
        self.limit = limit


@dataclass(frozen=True)
class IngestBudget:
    """The caps of one document's ingestion: characters of text read from the file
    (before cleaning), PDF pages, chunks, and wall time from start to the indexed chunks."""

    max_extracted_chars: int = DEFAULT_MAX_EXTRACTED_CHARS
    max_pages: int = DEFAULT_MAX_PAGES
    max_chunks: int = DEFAULT_MAX_CHUNKS
    max_seconds: float = DEFAULT_MAX_INGEST_SECONDS

    def __post_init__(self) -> None:
        if min(self.max_extracted_chars, self.max_pages, self.max_chunks) < 1:
            raise ValueError("ingestion caps must be at least 1")
        if self.max_seconds <= 0:
            raise ValueError("the ingestion time cap must be positive")

    def check_chars(self, count: int) -> None:
        if count > self.max_extracted_chars:
            raise IngestBudgetExceeded("characters", self.max_extracted_chars)

    def check_pages(self, count: int) -> None:
        if count > self.max_pages:
            raise IngestBudgetExceeded("pages", self.max_pages)

    def deadline(self, monotonic: Callable[[], float]) -> Callable[[], None]:
        """A check that raises once ``max_seconds`` have passed since this call, by
        ``monotonic`` (``time.monotonic`` in production, a fake in tests)."""
        ends = monotonic() + self.max_seconds

        def check() -> None:
            if monotonic() > ends:
                raise IngestBudgetExceeded("seconds", self.max_seconds)

        return check


# --------------------------------------------------------------------------- ranking


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[K]], *, k: int = 60
) -> list[tuple[K, float]]:
    """Fuse several best-first rankings: score(d) = sum of 1 / (k + rank), rank from 1.

    Ties are broken by the best rank an item reached, then by first appearance, so the
    result is deterministic. An item repeated within one ranking counts once there.
    """
    if k < 1:
        raise ValueError("k must be positive")
    scores: dict[K, float] = {}
    best_rank: dict[K, int] = {}
    first_seen: dict[K, int] = {}
    for ranking in rankings:
        seen: set[K] = set()
        for rank, item in enumerate(ranking, start=1):
            if item in seen:
                continue
            seen.add(item)
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
            best_rank[item] = min(best_rank.get(item, rank), rank)
            first_seen.setdefault(item, len(first_seen))
    ordered = sorted(scores, key=lambda item: (-scores[item], best_rank[item], first_seen[item]))
    return [(item, scores[item]) for item in ordered]


class Bm25Index:
    """Okapi BM25 over a fixed list of texts (in memory; for fakes, tests and demos)."""

    def __init__(self, texts: Sequence[str], *, k1: float = 1.2, b: float = 0.75) -> None:
        self._docs = [Counter(terms(text)) for text in texts]
        self._lengths = [sum(doc.values()) for doc in self._docs]
        self._average = (sum(self._lengths) / len(self._docs)) if self._docs else 0.0
        frequency: Counter[str] = Counter()
        for doc in self._docs:
            frequency.update(doc.keys())
        total = len(self._docs)
        self._idf = {
            term: math.log(1.0 + (total - df + 0.5) / (df + 0.5)) for term, df in frequency.items()
        }
        self._k1, self._b = k1, b

    def search(self, query: str, *, top_k: int = 10) -> list[tuple[int, float]]:
        """``(index, score)`` of the best texts, best first; ties by index."""
        query_terms = set(terms(query))
        results: list[tuple[int, float]] = []
        for index, doc in enumerate(self._docs):
            score = 0.0
            norm = self._k1 * (1 - self._b + self._b * self._lengths[index] / (self._average or 1))
            for term in query_terms:
                tf = doc.get(term, 0)
                if tf:
                    score += self._idf[term] * tf * (self._k1 + 1) / (tf + norm)
            if score > 0:
                results.append((index, score))
        results.sort(key=lambda item: (-item[1], item[0]))
        return results[:top_k]


# --------------------------------------------------------------------------- answers


@dataclass(frozen=True)
class Passage:
    """A retrieved passage as the answer composer sees it; ``n`` is its source number."""

    n: int
    text: str
    title: str = ""


@dataclass(frozen=True)
class ExtractiveAnswer:
    text: str
    cited: tuple[int, ...]
    # False when no passage sentence matched the question well enough.
    grounded: bool


NO_ANSWER_TEXT: Final = (
    "The knowledge base passages found for this question do not answer it. "
    "Try rephrasing the question or removing filters."
)
MIN_QUESTION_COVERAGE: Final = 0.3
_RELATIVE_SCORE_FLOOR: Final = 0.5
_RANK_DECAY: Final = 0.2
_MIN_SENTENCE_WORDS: Final = 3
# Question terms found only in the passage title or the sentence's heading count this
# much (a sentence must still contain at least one question term itself).
_CONTEXT_WEIGHT: Final = 0.5


@dataclass(frozen=True)
class _Candidate:
    passage_index: int
    position: int
    n: int
    sentence: str
    coverage: float
    score: float


def _trim_to(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 2 else limit].rstrip(" ,;:-") + "\u2026"


def _cite(sentence: str, n: int) -> str:
    if sentence and sentence[-1] in ".!?":
        return f"{sentence[:-1]} [{n}]{sentence[-1]}"
    return f"{sentence} [{n}]"


def compose_extractive_answer(
    question: str,
    passages: Sequence[Passage],
    *,
    max_sentences: int = 4,
    max_per_passage: int = 2,
    max_sentence_chars: int = 320,
    max_chars: int = 900,
) -> ExtractiveAnswer:
    """An answer made of the passages' own sentences that best match the question.

    Each sentence is scored by the question terms it contains (weighted by rarity
    across the candidate sentences; terms only in its heading or the passage title count
    half) and by its passage's rank. Sentences covering too
    little of the question are left out; if none is left the answer says so plainly
    (``grounded`` False, nothing cited). Chosen sentences keep their passage order and
    each ends with its source number ``[n]``; long sentences are trimmed at a word.
    """
    question_terms = set(terms(question))
    sentences: list[tuple[int, int, Passage, str, set[str], set[str]]] = []
    for passage_index, passage in enumerate(passages):
        title_terms = set(terms(passage.title))
        heading_terms: set[str] = set()
        for position, sentence in enumerate(split_sentences(passage.text)):
            if sentence.lstrip().startswith("#"):
                heading_terms = set(terms(sentence))
                continue
            if len(sentence.split()) < _MIN_SENTENCE_WORDS:
                continue
            context = title_terms | heading_terms
            sentences.append(
                (passage_index, position, passage, sentence, set(terms(sentence)), context)
            )
    if not question_terms or not sentences:
        return ExtractiveAnswer(NO_ANSWER_TEXT, (), False)
    total = len(sentences)
    document_frequency = Counter(t for *_, own, _ in sentences for t in own)
    weights = {
        term: math.log(1.0 + total / (1.0 + document_frequency.get(term, 0)))
        for term in question_terms
    }
    question_weight = sum(weights.values())
    candidates: list[_Candidate] = []
    for passage_index, position, passage, sentence, own, context in sentences:
        matched = question_terms & own
        if not matched:
            continue
        from_context = (question_terms & context) - matched
        coverage = (
            sum(weights[t] for t in matched)
            + _CONTEXT_WEIGHT * sum(weights[t] for t in from_context)
        ) / question_weight
        score = coverage / (1.0 + _RANK_DECAY * passage_index)
        candidates.append(
            _Candidate(passage_index, position, passage.n, sentence.strip(), coverage, score)
        )
    best = max((c.coverage for c in candidates), default=0.0)
    if best < MIN_QUESTION_COVERAGE:
        return ExtractiveAnswer(NO_ANSWER_TEXT, (), False)
    floor = max(MIN_QUESTION_COVERAGE, _RELATIVE_SCORE_FLOOR * best)
    ranked = sorted(
        (c for c in candidates if c.coverage >= floor),
        key=lambda c: (-c.score, c.passage_index, c.position),
    )
    chosen: list[_Candidate] = []
    per_passage: Counter[int] = Counter()
    for candidate in ranked:
        if len(chosen) >= max_sentences:
            break
        if per_passage[candidate.passage_index] >= max_per_passage:
            continue
        chosen.append(candidate)
        per_passage[candidate.passage_index] += 1
    chosen.sort(key=lambda c: (c.passage_index, c.position))
    parts: list[str] = []
    cited: dict[int, None] = {}
    length = 0
    for candidate in chosen:
        piece = _cite(_trim_to(candidate.sentence, max_sentence_chars), candidate.n)
        if parts and length + 1 + len(piece) > max_chars:
            break
        parts.append(piece)
        length += len(piece) + (1 if len(parts) > 1 else 0)
        cited.setdefault(candidate.n, None)
    return ExtractiveAnswer(" ".join(parts), tuple(cited), True)


CITATION_RE: Final = re.compile(r"\[(\d{1,3})\]")


def cited_sources(text: str, valid: Collection[int]) -> tuple[int, ...]:
    """The source numbers ``[n]`` cited in ``text`` that are in ``valid``, in order of
    first citation."""
    found: dict[int, None] = {}
    for match in CITATION_RE.finditer(text):
        n = int(match.group(1))
        if n in valid:
            found.setdefault(n, None)
    return tuple(found)


def strip_unknown_citations(text: str, valid: Collection[int]) -> str:
    """``text`` without the citation markers ``[n]`` whose ``n`` is not in ``valid``."""

    def keep(match: re.Match[str]) -> str:
        return match.group(0) if int(match.group(1)) in valid else ""

    return re.sub(r" ?\[(\d{1,3})\]", keep, text)


# --------------------------------------------------------------------------- visit summaries

SummarySectionName = Literal["presenting_complaint", "findings", "assessment", "plan", "follow_up"]
SUMMARY_SECTIONS: Final[tuple[SummarySectionName, ...]] = (
    "presenting_complaint",
    "findings",
    "assessment",
    "plan",
    "follow_up",
)


@dataclass(frozen=True)
class TextSpan:
    """``transcript[start:end]`` is the passage a summary line rests on."""

    start: int
    end: int


@dataclass(frozen=True)
class SummarySection:
    name: SummarySectionName
    text: str
    spans: tuple[TextSpan, ...]


@dataclass(frozen=True)
class VisitSummary:
    sections: tuple[SummarySection, ...]

    def section(self, name: SummarySectionName) -> SummarySection:
        for section in self.sections:
            if section.name == name:
                return section
        raise KeyError(name)

    @property
    def is_empty(self) -> bool:
        return not any(section.text for section in self.sections)


def empty_summary() -> VisitSummary:
    return VisitSummary(tuple(SummarySection(name, "", ()) for name in SUMMARY_SECTIONS))


def _cues(*phrases: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(phrases) + r")")


# Keyword cues per section, matched on the lower-cased sentence. Each distinct cue
# that matches adds one point; a sentence goes to its best-scoring section.
_SECTION_CUES: Final[Mapping[SummarySectionName, tuple[re.Pattern[str], ...]]] = {
    "presenting_complaint": tuple(
        _cues(p)
        for p in (
            r"(?:has|have|she's|he's|it's) been",
            r"since (?:yesterday|last|this|monday|tuesday|wednesday|thursday|friday|saturday"
            r"|sunday|the)",
            r"(?:started|began|noticed|worried|concerned)",
            r"brought (?:him|her|them|it) in|came in|in today (?:for|because)",
            r"for the (?:past|last)",
            r"\d+ (?:days?|weeks?|hours?|months?) (?:ago|now)",
            r"off (?:his|her|its) food|not eating|won't eat|stopped eating",
            r"(?:keeps?|kept) (?:vomiting|scratching|coughing|limping|shaking|licking)",
            r"reason for (?:the |today's )?visit|presenting|complain",
            r"owner reports|history of",
            r"yesterday|last night|this morning|overnight",
            r"(?:had|has|having|with) (?:some |a bit of |bloody )?(?:vomiting|diarrh|a cough"
            r"|coughing|sneezing|limping|itching|seizures?|fits?)",
        )
    ),
    "findings": tuple(
        _cues(p)
        for p in (
            r"temperature|temp is|fever|°c|degrees",
            r"heart rate|pulse|respiratory rate|breathing rate|bpm|murmur",
            r"weighs|weight is|kg\b|body condition",
            r"on (?:exam|examination|palpation|auscultation)|i can (?:see|feel|hear)",
            r"mucous membranes|gums are|capillary refill|crt",
            r"lymph nodes?|abdomen (?:is|feels)|painful on|pain on|tender",
            r"dehydrat|swollen|swelling|redness|inflamed|discharge|lesion|mass\b",
            r"(?:looks?|feels?|sounds?) (?:normal|clear|fine|good|healthy)",
            r"ear canal|otoscop|skin is|coat is|eyes are|teeth are|tartar",
            r"blood (?:work|test|results)|results show|urinalysis showed|x-rays? show",
        )
    ),
    "assessment": tuple(
        _cues(p)
        for p in (
            r"diagnos",
            r"likely|probably|most likely|suspect|suspicion",
            r"consistent with|suggestive of|looks like|compatible with",
            r"i think (?:this|it|she|he)|my impression|assessment",
            r"differential|rule out|ruled out",
            r"infection|gastroenteritis|otitis|dermatitis|arthritis|pancreatitis|cystitis",
        )
    ),
    "plan": tuple(
        _cues(p)
        for p in (
            r"prescrib|dispens|administer",
            r"\d+(?:\.\d+)? ?(?:mg|ml|mcg|units?|tablets?|capsules?)\b",
            r"(?:once|twice|three times) (?:a |per )?day|daily|every \d+ hours|sid|bid|tid",
            r"we(?:'ll| will) (?:start|give|run|do|take|send|put|book|try)",
            r"(?:start|starting|begin) (?:her|him|them|it)? ?on",
            r"i(?:'d| would) (?:like to|recommend)|recommend",
            r"treatment|antibiotic|anti-inflammator|pain relief|injection|vaccin",
            r"bland diet|diet|fluids|surgery|x-rays?\b|radiograph|blood ?work|ultrasound",
            r"the plan|plan is|going to (?:give|start|run|do|send)",
            r"cone|e-collar|rest\b|restrict",
        )
    ),
    "follow_up": tuple(
        _cues(p)
        for p in (
            r"follow[- ]?up",
            r"re-?check|recheck|re-?examin",
            r"come back|bring (?:her|him|them|it) back|return (?:in|if|for)|see (?:her|him|"
            r"them|you) (?:again|back|in)",
            r"in (?:\d+|one|two|three|four|a few|a couple of) (?:days?|weeks?|months?)",
            r"next (?:week|month|visit|appointment)",
            r"call (?:us|the clinic)|phone us|contact us",
            r"if (?:it|she|he|they|things) (?:gets?|get|getting) worse|if (?:it|she|he) "
            r"(?:doesn't|does not) improve",
            r"book (?:an|a|the) (?:appointment|visit|recheck)",
        )
    ),
}
# When two sections score the same, the more specific one wins.
_TIE_PRIORITY: Final[tuple[SummarySectionName, ...]] = (
    "follow_up",
    "plan",
    "assessment",
    "findings",
    "presenting_complaint",
)
_SPEAKER_RE: Final = re.compile(r"[A-Z][A-Za-z .'-]{0,30}:[ \t]+")
_OWNER_SPEAKERS: Final = frozenset({"owner", "client", "mum", "mom", "dad"})


def transcript_sentences(transcript: str) -> list[tuple[TextSpan, str | None]]:
    """Each sentence of a transcript as a span (speaker label left out) and the speaker
    named at the start of its line, if any (``"Vet: ..."``)."""
    result: list[tuple[TextSpan, str | None]] = []
    speaker: str | None = None
    line_start = -1
    for start, end in sentence_spans(transcript):
        this_line = transcript.rfind("\n", 0, start) + 1
        if this_line != line_start:
            line_start, speaker = this_line, None
        label = _SPEAKER_RE.match(transcript, start, end)
        if label is not None:
            speaker = transcript[start : label.end()].rstrip(": \t").lower()
            start = label.end()
        if start < end:
            result.append((TextSpan(start, end), speaker))
    return result


def summarize_transcript(transcript: str, *, max_sentences_per_section: int = 5) -> VisitSummary:
    """A draft structured summary of a visit transcript, by keyword cues.

    Every transcript sentence is scored against the cues of each section and assigned
    to the best one (none if no cue matches). A section keeps its best sentences (at
    most ``max_sentences_per_section``) in transcript order; its spans say exactly
    which transcript characters each line came from.
    """
    chosen: dict[SummarySectionName, list[tuple[float, int, TextSpan]]] = {
        name: [] for name in SUMMARY_SECTIONS
    }
    for position, (span, speaker) in enumerate(transcript_sentences(transcript)):
        lowered = transcript[span.start : span.end].lower()
        scores: dict[SummarySectionName, float] = {
            name: float(sum(1 for cue in cues if cue.search(lowered)))
            for name, cues in _SECTION_CUES.items()
        }
        if speaker in _OWNER_SPEAKERS and scores["presenting_complaint"] > 0:
            scores["presenting_complaint"] += 0.5
        best = max(_TIE_PRIORITY, key=lambda name: (scores[name], -_TIE_PRIORITY.index(name)))
        if scores[best] >= 1:
            chosen[best].append((scores[best], position, span))
    sections: list[SummarySection] = []
    for name in SUMMARY_SECTIONS:
        picked = sorted(chosen[name], key=lambda item: (-item[0], item[1]))
        kept = sorted(picked[:max_sentences_per_section], key=lambda item: item[1])
        spans = tuple(span for _, _, span in kept)
        text = " ".join(transcript[span.start : span.end] for span in spans)
        sections.append(SummarySection(name, text, spans))
    return VisitSummary(tuple(sections))


def summary_from_sections(
    texts: Mapping[str, str], spans: Mapping[str, Sequence[TextSpan]]
) -> VisitSummary:
    """A summary from per-section texts and spans (e.g. a model's), in canonical order."""
    return VisitSummary(
        tuple(
            SummarySection(name, texts.get(name, "").strip(), tuple(spans.get(name, ())))
            for name in SUMMARY_SECTIONS
        )
    )


def is_summary_section(name: str) -> bool:
    return name in SUMMARY_SECTIONS


def as_section_name(name: str) -> SummarySectionName:
    if not is_summary_section(name):
        raise ValueError(f"unknown summary section {name!r}")
    return cast(SummarySectionName, name)
