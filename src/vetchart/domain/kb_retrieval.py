"""Knowledge-base retrieval rules: how the full-text and vector rankings of the candidate
chunks become one ordering, and what part of a chunk is shown as its excerpt.

Pure and deterministic; the database produces the candidates (one statement), these
rules order and present them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final
from uuid import UUID

from vetchart.domain.kb import reciprocal_rank_fusion, sentence_spans, terms

DEFAULT_RRF_K: Final = 60
DEFAULT_EXCERPT_CHARS: Final = 300


@dataclass(frozen=True)
class RankedCandidate:
    """A chunk found by full text (``text_rank``, from 1) and/or by vector similarity
    (``vector_rank``, from 1), with each ranking's own score."""

    chunk_id: UUID
    text_rank: int | None = None
    text_score: float | None = None
    vector_rank: int | None = None
    vector_score: float | None = None


@dataclass(frozen=True)
class Fused:
    chunk_id: UUID
    score: float


def fuse_rankings(
    candidates: Sequence[RankedCandidate], *, k: int = DEFAULT_RRF_K
) -> tuple[list[Fused], str]:
    """The candidates best first, and how they were ordered: ``hybrid`` (reciprocal rank
    fusion of both rankings), ``text`` or ``vector`` (the one ranking there is, scored by
    its own score), or ``none``."""
    by_text = sorted(
        (c for c in candidates if c.text_rank is not None),
        key=lambda c: (c.text_rank or 0, str(c.chunk_id)),
    )
    by_vector = sorted(
        (c for c in candidates if c.vector_rank is not None),
        key=lambda c: (c.vector_rank or 0, str(c.chunk_id)),
    )
    if by_text and by_vector:
        fused = reciprocal_rank_fusion(
            [[c.chunk_id for c in by_text], [c.chunk_id for c in by_vector]], k=k
        )
        return [Fused(chunk_id, score) for chunk_id, score in fused], "hybrid"
    if by_text:
        return [Fused(c.chunk_id, c.text_score or 0.0) for c in by_text], "text"
    if by_vector:
        return [Fused(c.chunk_id, c.vector_score or 0.0) for c in by_vector], "vector"
    return [], "none"


def _trim(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 2 else limit].rstrip(" ,;:-") + "\u2026"


def excerpt(question: str, text: str, *, max_chars: int = DEFAULT_EXCERPT_CHARS) -> str:
    """The part of a chunk to show with a source: from the sentence that shares the most
    words with the question (the first sentence if none does), followed by the next
    sentences while they fit in ``max_chars``; headings left out."""
    spans = [
        (start, end) for start, end in sentence_spans(text) if not text[start:end].startswith("#")
    ]
    if not spans:
        return _trim(" ".join(text.split()), max_chars)
    wanted = set(terms(question))
    best, best_score = 0, 0
    for index, (start, end) in enumerate(spans):
        score = len(wanted & set(terms(text[start:end])))
        if score > best_score:
            best, best_score = index, score
    parts: list[str] = []
    length = 0
    for start, end in spans[best:]:
        sentence = " ".join(text[start:end].split())
        if parts and length + 1 + len(sentence) > max_chars:
            break
        parts.append(sentence)
        length += len(sentence) + (1 if len(parts) > 1 else 0)
    return _trim(" ".join(parts), max_chars)
