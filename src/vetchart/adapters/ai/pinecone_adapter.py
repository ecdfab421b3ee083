"""The ``VectorIndex`` port on Pinecone (official SDK, data plane of one index).

One namespace per deployment (``namespace``); each vector carries its chunk's labels as
metadata, and label filters become Pinecone metadata filters (``$in`` for the
multi-valued species and symptoms, ``$eq`` for the others, joined by ``$and``).

The SDK's ``AsyncIndex`` is used (SDK 10 has a native asyncio twin of ``Index``), so a
timed-out call is really cancelled instead of leaving a thread blocked. Its data-plane
client retries by itself (3 retries with jitter on 408/429/5xx and connection errors,
with a per-host retry budget) and exposes no setting to turn that off, so our own
retry policy here defaults to a single attempt: retries are not multiplied, and our
per-call timeout bounds the whole call, SDK retries included.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, Protocol
from uuid import UUID

import structlog
from pinecone import AsyncIndex
from pinecone.errors.exceptions import (
    ApiError,
    ForbiddenError,
    PineconeConnectionError,
    PineconeError,
    RateLimitError,
    ServiceError,
    UnauthorizedError,
)

from vetchart.adapters.ai.breaker import (
    NO_RETRY,
    CircuitBreaker,
    Failure,
    ResilientCaller,
    RetryPolicy,
)
from vetchart.domain.kb.labels import LabelFilter, Labels
from vetchart.services.ports.ai import IndexedChunk, VectorMatch

log = structlog.get_logger(__name__)

SERVICE: Final = "pinecone"
DEFAULT_TIMEOUT_SECONDS: Final = 10.0
# Pinecone caps a request at 2 MB; 1536 floats as JSON are ~30 KB.
DEFAULT_UPSERT_BATCH: Final = 40


class _Match(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def score(self) -> float: ...


class _QueryResult(Protocol):
    @property
    def matches(self) -> Sequence[_Match]: ...


class PineconeIndexClient(Protocol):
    """The part of ``pinecone.AsyncIndex`` this adapter uses (a fake can stand in)."""

    async def upsert(
        self,
        *,
        vectors: Sequence[Mapping[str, Any]],
        namespace: str = "",
        timeout: float | None = None,  # noqa: ASYNC109 - the SDK's own parameter
    ) -> object: ...

    async def query(
        self,
        *,
        top_k: int,
        vector: Sequence[float] | None = None,
        namespace: str = "",
        filter: Mapping[str, Any] | None = None,
        include_metadata: bool = False,
        timeout: float | None = None,  # noqa: ASYNC109 - the SDK's own parameter
    ) -> _QueryResult: ...

    async def delete(
        self,
        *,
        namespace: str = "",
        filter: Mapping[str, Any] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the SDK's own parameter
    ) -> object: ...

    async def close(self) -> None: ...


def build_pinecone_index(
    *, api_key: str, host: str, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
) -> AsyncIndex:
    """The SDK's data-plane client for the index at ``host`` (no control-plane lookup).
    ``http://`` is accepted for loopback and private addresses (local emulators)."""
    return AsyncIndex(host=host, api_key=api_key, timeout=timeout_seconds)


def classify_pinecone_error(exc: Exception) -> Failure | None:
    if isinstance(exc, TimeoutError | PineconeConnectionError | RateLimitError | ServiceError):
        return Failure.RETRYABLE
    if isinstance(exc, UnauthorizedError | ForbiddenError):
        return Failure.UNHEALTHY
    if isinstance(exc, ApiError):
        return Failure.RETRYABLE if exc.status_code == 408 else Failure.REJECTED
    if isinstance(exc, PineconeError):
        return Failure.UNHEALTHY
    return None


def label_metadata(document_id: UUID, chunk_index: int, labels: Labels) -> dict[str, Any]:
    """Vector metadata: Pinecone stores no nulls, so absent labels are left out."""
    metadata: dict[str, Any] = {"document_id": str(document_id), "chunk_index": chunk_index}
    if labels.species:
        metadata["species"] = list(labels.species)
    if labels.symptoms:
        metadata["symptoms"] = list(labels.symptoms)
    for key, value in (
        ("body_system", labels.body_system),
        ("audience", labels.audience),
        ("doc_type", labels.doc_type),
    ):
        if value is not None:
            metadata[key] = value
    return metadata


def pinecone_filter(filters: LabelFilter | None) -> dict[str, Any] | None:
    """The metadata filter matching ``LabelFilter.matches``; None when unfiltered."""
    if filters is None or filters.is_empty():
        return None
    clauses: list[dict[str, Any]] = []
    if filters.species:
        clauses.append({"species": {"$in": list(filters.species)}})
    if filters.symptoms:
        clauses.append({"symptoms": {"$in": list(filters.symptoms)}})
    for key, value in (
        ("body_system", filters.body_system),
        ("audience", filters.audience),
        ("doc_type", filters.doc_type),
    ):
        if value is not None:
            clauses.append({key: {"$eq": value}})
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class PineconeVectorIndex(ResilientCaller):
    """The ``VectorIndex`` port on one Pinecone index namespace."""

    def __init__(
        self,
        index: PineconeIndexClient,
        *,
        namespace: str,
        breaker: CircuitBreaker,
        retry: RetryPolicy = NO_RETRY,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        upsert_batch_size: int = DEFAULT_UPSERT_BATCH,
    ) -> None:
        if not namespace:
            raise ValueError("a namespace is required")
        super().__init__(
            breaker=breaker,
            retry=retry,
            timeout_seconds=timeout_seconds,
            classify=classify_pinecone_error,
        )
        self._index = index
        self._namespace = namespace
        self._batch = upsert_batch_size

    async def upsert(self, chunks: Sequence[IndexedChunk]) -> None:
        for start in range(0, len(chunks), self._batch):
            await self._upsert_batch(chunks[start : start + self._batch])

    async def _upsert_batch(self, chunks: Sequence[IndexedChunk]) -> None:
        vectors = [
            {
                "id": str(chunk.chunk_id),
                "values": [float(value) for value in chunk.vector],
                "metadata": label_metadata(chunk.document_id, chunk.chunk_index, chunk.labels),
            }
            for chunk in chunks
        ]

        async def call() -> object:
            return await self._index.upsert(
                vectors=vectors, namespace=self._namespace, timeout=self._timeout
            )

        await self._call("upsert", call)

    async def delete_document(self, document_id: UUID) -> None:
        async def call() -> object:
            return await self._index.delete(
                namespace=self._namespace,
                filter={"document_id": {"$eq": str(document_id)}},
                timeout=self._timeout,
            )

        await self._call("delete", call)

    async def query(
        self, vector: Sequence[float], *, top_k: int, filters: LabelFilter | None = None
    ) -> list[VectorMatch]:
        metadata_filter = pinecone_filter(filters)

        async def call() -> _QueryResult:
            return await self._index.query(
                top_k=top_k,
                vector=[float(value) for value in vector],
                namespace=self._namespace,
                filter=metadata_filter,
                include_metadata=False,
                timeout=self._timeout,
            )

        result = await self._call("query", call)
        matches: list[VectorMatch] = []
        for match in result.matches:
            try:
                chunk_id = UUID(match.id)
            except ValueError:
                log.warning("pinecone.foreign_vector_ignored", namespace=self._namespace)
                continue
            matches.append(VectorMatch(chunk_id, float(match.score)))
        return matches

    async def aclose(self) -> None:
        await self._index.close()
