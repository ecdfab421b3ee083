"""Knowledge-base retrieval rules: how the full-text and vector rankings of the candidate
chunks become one ordering (reciprocal rank fusion), what part of a chunk is shown as its
excerpt, and a small in-memory BM25 ranking (for fakes, tests and demos).

Pure and deterministic; the database produces the candidates (one statement), these
rules order and present them.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Final, TypeVar
from uuid import UUID

from vetchart.domain.kb.text import sentence_spans, shorten, terms

K = TypeVar("K", bound=Hashable)

DEFAULT_RRF_K: Final = 60
DEFAULT_EXCERPT_CHARS: Final = 300


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


def excerpt(question: str, text: str, *, max_chars: int = DEFAULT_EXCERPT_CHARS) -> str:
    """The part of a chunk to show with a source: from the sentence that shares the most
    words with the question (the first sentence if none does), followed by the next
    sentences while they fit in ``max_chars``; headings left out."""
    spans = [
        (start, end) for start, end in sentence_spans(text) if not text[start:end].startswith("#")
    ]
    if not spans:
        return shorten(" ".join(text.split()), max_chars)
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
    return shorten(" ".join(parts), max_chars)
