"""The AI adapters a process uses, built from its settings: extractive answers with no
outside service; OpenAI embeddings and generated answers when a key is set; a Pinecone
vector index when its key and index host are set. One circuit breaker per service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Final, TypeVar

from vetchart.adapters.ai.breaker import CircuitBreaker, CircuitBreakers, RetryPolicy
from vetchart.adapters.ai.extractive import ExtractiveAnswerer, ExtractiveSummarizer
from vetchart.config import AiSettings
from vetchart.services.ports.ai import Answerer, Embedder, Summarizer, VectorIndex

if TYPE_CHECKING:
    from vetchart.adapters.ai.openai_adapter import OpenAIChat

ChatT = TypeVar("ChatT", bound="OpenAIChat")

OPENAI: Final = "openai"
PINECONE: Final = "pinecone"


def service_breaker(breakers: CircuitBreakers, service: str, ai: AiSettings) -> CircuitBreaker:
    """The service's breaker with the configured threshold and reset time."""
    return breakers.get(
        service,
        failure_threshold=ai.circuit_failure_threshold,
        reset_timeout_seconds=ai.circuit_reset_seconds,
    )


def openai_retry(ai: AiSettings, attempts: int) -> RetryPolicy:
    """Bounded retries of OpenAI calls with the configured backoff."""
    return RetryPolicy(
        attempts=attempts,
        initial_backoff_seconds=ai.openai_retry_base_seconds,
        max_backoff_seconds=ai.openai_retry_max_seconds,
    )


@dataclass
class AiAdapters:
    answerer: Answerer
    # The answerer used when the configured one is unavailable.
    fallback: Answerer
    # Embeddings while a request waits (bounded by the request deadline) ...
    query_embedder: Embedder | None = None
    # ... and for ingestion (the worker may wait longer).
    ingest_embedder: Embedder | None = None
    vector_index: VectorIndex | None = None
    # Visit summaries (a background job: the worker may wait longer) and their fallback.
    summarizer: Summarizer = field(default_factory=ExtractiveSummarizer)
    summary_fallback: Summarizer = field(default_factory=ExtractiveSummarizer)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def aclose(self) -> None:
        for close in self.closers:
            await close()


def build_ai_adapters(settings: AiSettings, breakers: CircuitBreakers) -> AiAdapters:
    extractive = ExtractiveAnswerer()
    adapters = AiAdapters(answerer=extractive, fallback=extractive)
    if settings.openai_enabled and settings.openai_api_key is not None:
        # Imported here: the SDK is only loaded when the service is configured.
        from vetchart.adapters.ai.openai_adapter import (
            OpenAIAnswerer,
            OpenAIEmbedder,
            OpenAISummarizer,
            build_openai_client,
        )

        breaker = service_breaker(breakers, OPENAI, settings)
        client = build_openai_client(
            api_key=settings.openai_api_key.get_secret_value(),
            base_url=settings.openai_base_url,
            timeout_seconds=settings.openai_timeout_seconds,
        )
        adapters.closers.append(client.close)
        background = openai_retry(settings, settings.openai_max_attempts)
        interactive = replace(background, deadline_seconds=settings.openai_request_deadline_seconds)

        def chat(port: type[ChatT], retry: RetryPolicy) -> ChatT:
            return port(
                client,
                model=settings.openai_chat_model,
                breaker=breaker,
                retry=retry,
                timeout_seconds=settings.openai_timeout_seconds,
            )

        adapters.summarizer = chat(OpenAISummarizer, background)
        adapters.answerer = chat(OpenAIAnswerer, interactive)
        if settings.openai_embeddings:
            for name, policy in (("query_embedder", interactive), ("ingest_embedder", background)):
                setattr(
                    adapters,
                    name,
                    OpenAIEmbedder(
                        client,
                        model=settings.openai_embedding_model,
                        dimensions=settings.openai_embedding_dimensions,
                        breaker=breaker,
                        retry=policy,
                        timeout_seconds=settings.openai_timeout_seconds,
                    ),
                )
    # Vectors need an embedder: without one a Pinecone index would stay empty.
    pinecone_usable = adapters.ingest_embedder is not None and settings.pinecone_enabled
    if pinecone_usable and settings.pinecone_api_key and settings.pinecone_index_host:
        from vetchart.adapters.ai.pinecone_adapter import (
            PineconeVectorIndex,
            build_pinecone_index,
        )

        index = build_pinecone_index(
            api_key=settings.pinecone_api_key.get_secret_value(),
            host=settings.pinecone_index_host,
            timeout_seconds=settings.pinecone_timeout_seconds,
        )
        pinecone = PineconeVectorIndex(
            index,
            namespace=settings.pinecone_namespace,
            breaker=service_breaker(breakers, PINECONE, settings),
            timeout_seconds=settings.pinecone_timeout_seconds,
        )
        adapters.closers.append(pinecone.aclose)
        adapters.vector_index = pinecone
    return adapters
