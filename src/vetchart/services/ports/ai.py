"""Ports of the knowledge base and visit summaries: embeddings, vector search, answers,
summaries and document text. Adapters implement them (local defaults, OpenAI,
Pinecone); bootstrap wires them. Every outside call behind these ports is bounded by a
timeout, bounded retries and a circuit breaker, and fails with ``ServiceUnavailable``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple, Protocol
from uuid import UUID

from vetchart.domain.errors import RuleViolation, Unavailable
from vetchart.domain.kb.answers import Passage
from vetchart.domain.kb.labels import Audience, LabelFilter, Labels
from vetchart.domain.kb.summaries import VisitSummary

__all__ = [
    "Answer",
    "AnswerMode",
    "Answerer",
    "CircuitOpen",
    "Embedder",
    "ExtractionFailed",
    "IndexedChunk",
    "ServiceUnavailable",
    "Summarizer",
    "TextExtractor",
    "VectorIndex",
    "VectorMatch",
    "VisitSummaryDraft",
]

# --------------------------------------------------------------------------- errors


class ServiceUnavailable(Unavailable):
    """An outside service (OpenAI, Pinecone, ...) failed, timed out or refused the call.

    ``service`` names it (for logs, metrics and health details, never for end users);
    ``retryable`` tells whether the same call might succeed later. The use cases catch
    it to degrade (an extractive answer instead of a generated one) or map it to 503.
    """

    code = "service-unavailable"
    title = "Service unavailable"

    def __init__(
        self,
        service: str,
        detail: str,
        *,
        retryable: bool = True,
        retry_after_seconds: int | None = None,
    ) -> None:
        super().__init__(detail, retry_after_seconds=retry_after_seconds)
        self.service = service
        self.retryable = retryable


class CircuitOpen(ServiceUnavailable):
    """The service's circuit is open: the call was refused without being attempted."""

    code = "circuit-open"

    def __init__(self, service: str, *, retry_after_seconds: int | None = None) -> None:
        super().__init__(
            service,
            f"The {service} service is temporarily unavailable.",
            retryable=False,
            retry_after_seconds=retry_after_seconds,
        )


class ExtractionFailed(RuleViolation):
    """A document's text could not be extracted (corrupt, encrypted, empty, not text)."""

    code = "extraction-failed"
    title = "Document text could not be extracted"

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"The document's text could not be extracted: {reason}",
            rule="kb.extraction_failed",
            field="file",
        )
        self.reason = reason


# --------------------------------------------------------------------------- documents


class TextExtractor(Protocol):
    def extract(self, data: bytes, media_type: str | None = None) -> str:
        """Clean text (markdown headings kept) of a markdown, plain-text or PDF document.

        Raises ``ExtractionFailed`` for a corrupt, encrypted, empty or binary file.
        """
        ...


# --------------------------------------------------------------------------- embeddings


class Embedder(Protocol):
    @property
    def model(self) -> str:
        """The embedding model's name (stored with the vectors it made)."""
        ...

    @property
    def dimensions(self) -> int: ...

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector of ``dimensions`` floats per text, in the same order."""
        ...


# --------------------------------------------------------------------------- vector search


@dataclass(frozen=True)
class IndexedChunk:
    chunk_id: UUID
    document_id: UUID
    chunk_index: int
    vector: Sequence[float]
    labels: Labels


class VectorMatch(NamedTuple):
    chunk_id: UUID
    score: float


class VectorIndex(Protocol):
    async def upsert(self, chunks: Sequence[IndexedChunk]) -> None:
        """Insert or replace the chunks' vectors with their labels."""
        ...

    async def delete_document(self, document_id: UUID) -> None:
        """Remove every vector of the document."""
        ...

    async def query(
        self, vector: Sequence[float], *, top_k: int, filters: LabelFilter | None = None
    ) -> list[VectorMatch]:
        """The ``top_k`` nearest chunks among those whose labels pass ``filters``,
        best first."""
        ...


# --------------------------------------------------------------------------- answers

AnswerMode = Literal["generated", "extractive"]


@dataclass(frozen=True)
class Answer:
    text: str
    # The source numbers ``[n]`` the text cites (all within 1..len(passages)).
    cited: tuple[int, ...]
    mode: AnswerMode
    # False when the passages did not answer the question (the text says so).
    grounded: bool
    model: str | None = None
    prompt_version: str | None = None


class Answerer(Protocol):
    @property
    def name(self) -> str:
        """``extractive`` or the name of the outside service."""
        ...

    async def answer(
        self, question: str, passages: Sequence[Passage], audience: Audience
    ) -> Answer:
        """An answer resting only on ``passages`` (numbered by their ``n``), citing
        them as ``[n]``; plain words when ``audience`` is ``pet-owner``."""
        ...


# --------------------------------------------------------------------------- summaries


@dataclass(frozen=True)
class VisitSummaryDraft:
    """A summary draft and its provenance. Never clinical data until a vet accepts it."""

    summary: VisitSummary
    adapter: str
    model: str | None
    prompt_version: str


class Summarizer(Protocol):
    @property
    def name(self) -> str: ...

    async def summarize(self, transcript: str) -> VisitSummaryDraft:
        """Sections ``presenting_complaint, findings, assessment, plan, follow_up``, each
        with the transcript spans it rests on."""
        ...
