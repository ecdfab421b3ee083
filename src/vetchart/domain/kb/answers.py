"""Extractive answers: an answer made of the retrieved passages' own sentences, citing
them as ``[n]`` (``compose_extractive_answer``), and the citation helpers."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Final

from vetchart.domain.kb.text import shorten, split_sentences, terms


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
        piece = _cite(shorten(candidate.sentence, max_sentence_chars), candidate.n)
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
