"""Chunking of reference documents: cut at headings, then inside a long section at
paragraph, line and sentence breaks, with overlap (``chunk_document``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final

from vetchart.domain.kb.budget import IngestBudgetExceeded
from vetchart.domain.kb.text import sentence_spans, skip_space, trim_span

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
    return skip_space(text, cut, len(text))


def _split_section(
    text: str, start: int, end: int, max_chars: int, overlap: int
) -> Iterator[tuple[int, int]]:
    """The spans of one section, lazily (so that a chunk budget stops the work early)."""
    start, end = trim_span(text, start, end)
    starts_cache: set[int] | None = None
    while start < end:
        if end - start <= max_chars:
            yield (start, end)
            break
        cut = _best_break(text, start, start + max_chars, max_chars)
        span = trim_span(text, start, cut)
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
