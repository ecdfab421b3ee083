"""Questions to the knowledge base: retrieval, fusion and the answer with its sources.

1. With an embedder configured (and somewhere to search vectors), the question is
   embedded; the vector ranking comes from the database (pgvector) or from the outside
   vector index (Pinecone).
2. One statement returns the candidates: full-text ranked (always) and vector ranked
   (when there is a vector), both filtered by the labels.
3. Both rankings are fused by reciprocal rank fusion (or the one ranking is used).
4. The best ``max_sources`` chunks are the numbered sources; the answerer (extractive by
   default, generated with OpenAI) answers from them, citing ``[n]``.

An outside service that fails or whose circuit is open degrades the answer instead of
failing it: full-text retrieval only, an extractive answer, ``degraded: true``. Nothing
here logs the question or the passages.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Final
from uuid import UUID

import structlog

from vetchart.domain.errors import RuleViolation
from vetchart.domain.input_bounds import check_max_length
from vetchart.domain.kb.answers import Passage
from vetchart.domain.kb.labels import Audience, LabelFilter
from vetchart.domain.kb.retrieval import excerpt, fuse_rankings
from vetchart.domain.policy import Action, Principal, require
from vetchart.domain.users import Role
from vetchart.services.ports.ai import (
    Answer,
    Answerer,
    AnswerMode,
    Embedder,
    ServiceUnavailable,
    VectorIndex,
)
from vetchart.services.ports.kb import KbQueries, SearchRequest

log = structlog.get_logger(__name__)

MAX_QUESTION_CHARS: Final = 1000
MIN_SOURCES: Final = 1
MAX_SOURCES: Final = 20
DEFAULT_SOURCES: Final = 5


@dataclass(frozen=True)
class RetrievalRules:
    candidates: int
    rrf_k: int
    excerpt_chars: int


@dataclass(frozen=True)
class Source:
    n: int
    document_id: UUID
    title: str
    chunk_index: int
    score: float
    excerpt: str
    source_url: str | None


@dataclass(frozen=True)
class KbAnswer:
    answer: str
    sources: list[Source]
    mode: AnswerMode
    degraded: bool
    timings_ms: dict[str, float]
    # How the sources were ranked: hybrid, text, vector or none (for logs and tests).
    ranking: str


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def reader_audience(actor: Principal | None, filters: LabelFilter) -> Audience:
    """Whom the answer is written for: the audience filter, else the caller's role."""
    if filters.audience is not None:
        return filters.audience
    return "pet-owner" if actor is not None and actor.role is Role.PET_OWNER else "expert"


class KbAnswerService:
    def __init__(
        self,
        *,
        queries: KbQueries,
        answerer: Answerer,
        fallback: Answerer,
        rules: RetrievalRules,
        embedder: Embedder | None = None,
        vector_index: VectorIndex | None = None,
    ) -> None:
        self._queries = queries
        self._answerer = answerer
        self._fallback = fallback
        self._rules = rules
        self._embedder = embedder
        self._vector_index = vector_index

    async def ask(
        self,
        actor: Principal | None,
        question: str,
        *,
        filters: LabelFilter,
        max_sources: int = DEFAULT_SOURCES,
    ) -> KbAnswer:
        """``actor`` None: the command line (a local operator; answers for experts)."""
        if actor is not None:
            require(actor, Action.KB_QUERY)
        question = " ".join(question.split())
        if not question:
            raise RuleViolation(
                "The question is empty.", rule="kb.question_empty", field="question"
            )
        check_max_length(
            question,
            MAX_QUESTION_CHARS,
            what="The question",
            rule="kb.question_too_long",
            field="question",
        )
        if not MIN_SOURCES <= max_sources <= MAX_SOURCES:
            raise RuleViolation(
                f"max_sources must be {MIN_SOURCES} to {MAX_SOURCES}.",
                rule="kb.max_sources",
                field="max_sources",
            )
        started = time.perf_counter()
        timings: dict[str, float] = {}
        degraded = False

        request = SearchRequest(
            question=question, filters=filters, candidates=self._rules.candidates
        )
        embedder = self._embedder
        if embedder is not None and (
            self._vector_index is not None
            or await self._queries.vector_search_available(embedder.dimensions)
        ):
            step = time.perf_counter()
            try:
                vector = (await embedder.embed([question]))[0]
                if self._vector_index is None:
                    request = SearchRequest(
                        question=question,
                        filters=filters,
                        candidates=self._rules.candidates,
                        query_vector=vector,
                    )
                else:
                    matches = await self._vector_index.query(
                        vector, top_k=self._rules.candidates, filters=filters
                    )
                    request = SearchRequest(
                        question=question,
                        filters=filters,
                        candidates=self._rules.candidates,
                        vector_ranking=[match.chunk_id for match in matches],
                    )
            except ServiceUnavailable as error:
                degraded = True
                log.warning("kb.vector_search_skipped", service=error.service, code=error.code)
            timings["embed"] = _elapsed_ms(step)

        step = time.perf_counter()
        hits = await self._queries.search(request)
        fused, ranking = fuse_rankings([hit.candidate for hit in hits], k=self._rules.rrf_k)
        timings["retrieve"] = _elapsed_ms(step)

        by_id = {hit.candidate.chunk_id: hit for hit in hits}
        chosen = [(by_id[item.chunk_id], item.score) for item in fused[:max_sources]]
        passages = [
            Passage(n=n, text=hit.text, title=hit.title)
            for n, (hit, _) in enumerate(chosen, start=1)
        ]
        audience = reader_audience(actor, filters)

        step = time.perf_counter()
        answer = await self._answer(question, passages, audience)
        if answer is None:
            degraded = True
            answer = await self._fallback.answer(question, passages, audience)
        timings["answer"] = _elapsed_ms(step)
        timings["total"] = _elapsed_ms(started)

        sources = [
            Source(
                n=n,
                document_id=hit.document_id,
                title=hit.title,
                chunk_index=hit.chunk_index,
                score=round(score, 6),
                excerpt=excerpt(question, hit.text, max_chars=self._rules.excerpt_chars),
                source_url=hit.source_url,
            )
            for n, (hit, score) in enumerate(chosen, start=1)
        ]
        log.info(
            "kb.answered",
            mode=answer.mode,
            degraded=degraded,
            ranking=ranking,
            sources=len(sources),
            total_ms=timings["total"],
        )
        return KbAnswer(
            answer=answer.text,
            sources=sources,
            mode=answer.mode,
            degraded=degraded,
            timings_ms=timings,
            ranking=ranking,
        )

    async def _answer(
        self, question: str, passages: list[Passage], audience: Audience
    ) -> Answer | None:
        """The configured answerer's answer, or None when its service is unavailable."""
        try:
            return await self._answerer.answer(question, passages, audience)
        except ServiceUnavailable as error:
            log.warning("kb.answer_degraded", service=error.service, code=error.code)
            return None
