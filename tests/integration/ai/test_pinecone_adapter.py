"""The Pinecone adapter through the official SDK (``AsyncIndex`` on a plain-http loopback
host) against a local server speaking Pinecone's data-plane REST shape."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry

from tests.clock import ManualClock
from tests.integration.ai.fake_servers import Behaviour, FakeService
from vetchart.adapters.ai.breaker import CIRCUIT_STATE_METRIC, CircuitBreakers, RetryPolicy
from vetchart.adapters.ai.pinecone_adapter import PineconeVectorIndex, build_pinecone_index
from vetchart.domain.kb.labels import LabelFilter, Labels
from vetchart.services.ports.ai import (
    CircuitOpen,
    IndexedChunk,
    ServiceUnavailable,
    VectorIndex,
    VectorMatch,
)

UPSERT, QUERY, DELETE = "/vectors/upsert", "/query", "/vectors/delete"
DOG_DOC, CAT_DOC = uuid.uuid4(), uuid.uuid4()
DOG = Labels.build(species=["dog"], symptoms=["coughing"], audience="pet-owner")
CAT = Labels.build(species=["cat"], body_system="urinary", audience="expert", doc_type="condition")


def chunk(document_id: uuid.UUID, index: int, vector: list[float], labels: Labels) -> IndexedChunk:
    return IndexedChunk(uuid.uuid4(), document_id, index, vector, labels)


CHUNKS = [
    chunk(DOG_DOC, 0, [1.0, 0.0, 0.0], DOG),
    chunk(DOG_DOC, 1, [0.9, 0.1, 0.0], DOG),
    chunk(CAT_DOC, 0, [0.8, 0.0, 0.2], CAT),
]


@pytest.fixture
def fake(pinecone_server: tuple[FakeService, str]) -> FakeService:
    service, _ = pinecone_server
    service.reset()
    return service


@pytest.fixture
def breakers() -> CircuitBreakers:
    return CircuitBreakers(CollectorRegistry())


@pytest.fixture
async def index_factory(
    pinecone_server: tuple[FakeService, str],
) -> AsyncIterator[list[PineconeVectorIndex]]:
    made: list[PineconeVectorIndex] = []
    yield made
    for index in made:
        await index.aclose()


def make_index(
    pinecone_server: tuple[FakeService, str],
    made: list[PineconeVectorIndex],
    breakers: CircuitBreakers,
    **options: object,
) -> PineconeVectorIndex:
    client = build_pinecone_index(api_key="pc-test-key", host=pinecone_server[1])
    settings: dict[str, object] = {"namespace": "vetchart-test", "timeout_seconds": 2.0}
    settings.update(options)
    index = PineconeVectorIndex(client, breaker=breakers.get("pinecone"), **settings)  # type: ignore[arg-type]
    made.append(index)
    return index


async def test_upsert_query_with_label_filters_and_delete_a_document(
    fake: FakeService,
    pinecone_server: tuple[FakeService, str],
    index_factory: list[PineconeVectorIndex],
    breakers: CircuitBreakers,
) -> None:
    index: VectorIndex = make_index(pinecone_server, index_factory, breakers, upsert_batch_size=2)
    await index.upsert(CHUNKS)
    assert fake.count(UPSERT) == 2  # batches of two
    stored = fake.requests[0].body
    assert stored["namespace"] == "vetchart-test"
    assert stored["vectors"][0]["metadata"] == {
        "document_id": str(DOG_DOC),
        "chunk_index": 0,
        "species": ["dog"],
        "symptoms": ["coughing"],
        "audience": "pet-owner",
    }

    everything = await index.query([1.0, 0.0, 0.0], top_k=5)
    assert [m.chunk_id for m in everything] == [c.chunk_id for c in CHUNKS]
    assert all(isinstance(m, VectorMatch) for m in everything)
    assert everything[0].score == pytest.approx(1.0)

    cats = await index.query(
        [1.0, 0.0, 0.0], top_k=5, filters=LabelFilter.build(species=["cat", "rabbit"])
    )
    assert [m.chunk_id for m in cats] == [CHUNKS[2].chunk_id]
    assert fake.requests[-1].body["filter"] == {"species": {"$in": ["cat", "rabbit"]}}

    experts = await index.query(
        [1.0, 0.0, 0.0],
        top_k=1,
        filters=LabelFilter.build(audience="expert", body_system="urinary"),
    )
    assert [m.chunk_id for m in experts] == [CHUNKS[2].chunk_id]
    assert fake.requests[-1].body["filter"] == {
        "$and": [{"body_system": {"$eq": "urinary"}}, {"audience": {"$eq": "expert"}}]
    }
    assert fake.requests[-1].body["topK"] == 1

    await index.delete_document(DOG_DOC)
    assert fake.requests[-1].body["filter"] == {"document_id": {"$eq": str(DOG_DOC)}}
    remaining = await index.query([1.0, 0.0, 0.0], top_k=5)
    assert [m.chunk_id for m in remaining] == [CHUNKS[2].chunk_id]


async def test_vectors_that_are_not_ours_are_ignored(
    fake: FakeService,
    pinecone_server: tuple[FakeService, str],
    index_factory: list[PineconeVectorIndex],
    breakers: CircuitBreakers,
) -> None:
    index = make_index(pinecone_server, index_factory, breakers)
    fake.vectors["vetchart-test"] = {"legacy-1": {"id": "legacy-1", "values": [1.0, 0.0]}}
    assert await index.query([1.0, 0.0], top_k=3) == []


async def test_the_timeout_fires_and_a_400_is_not_retried(
    fake: FakeService,
    pinecone_server: tuple[FakeService, str],
    index_factory: list[PineconeVectorIndex],
    breakers: CircuitBreakers,
) -> None:
    index = make_index(pinecone_server, index_factory, breakers, timeout_seconds=0.2)
    fake.behaviour = Behaviour(delay=1.0)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable, match="in time"):
        await index.query([1.0, 0.0], top_k=3)
    assert time.monotonic() - started < 0.6
    assert fake.count(QUERY) == 1

    fake.behaviour = Behaviour(failures=-1, status=400)
    with pytest.raises(ServiceUnavailable) as caught:
        await index.upsert(CHUNKS[:1])
    assert not caught.value.retryable
    assert fake.count(UPSERT) == 1
    # A refused request says the service is up: it does not count towards opening.
    assert breakers.get("pinecone").consecutive_failures == 0


async def test_server_errors_are_retried_a_bounded_number_of_times(
    fake: FakeService,
    pinecone_server: tuple[FakeService, str],
    index_factory: list[PineconeVectorIndex],
    breakers: CircuitBreakers,
) -> None:
    # The SDK's data-plane client retries 5xx by itself (3 retries, not configurable), so
    # the adapter adds none by default: 4 requests in all. Retry-After 0 keeps it fast.
    index = make_index(pinecone_server, index_factory, breakers)
    fake.behaviour = Behaviour(failures=-1, status=503, headers={"Retry-After": "0"})
    with pytest.raises(ServiceUnavailable) as caught:
        await index.query([1.0, 0.0], top_k=3)
    assert caught.value.retryable
    assert fake.count(QUERY) == 4

    ours = make_index(
        pinecone_server, index_factory, breakers, retry=RetryPolicy(attempts=2, jitter_seconds=0)
    )
    with pytest.raises(ServiceUnavailable):
        await ours.query([1.0, 0.0], top_k=3)
    assert fake.count(QUERY) == 4 + 8


async def test_the_breaker_opens_on_slow_calls_then_recovers(
    fake: FakeService,
    pinecone_server: tuple[FakeService, str],
    index_factory: list[PineconeVectorIndex],
) -> None:
    registry = CollectorRegistry()
    clock = ManualClock()
    breakers = CircuitBreakers(registry, clock=clock)
    breakers.get("pinecone", failure_threshold=2, reset_timeout_seconds=0.3)
    index = make_index(pinecone_server, index_factory, breakers, timeout_seconds=0.15)
    fake.behaviour = Behaviour(delay=1.0)
    for _ in range(2):
        with pytest.raises(ServiceUnavailable):
            await index.query([1.0, 0.0], top_k=3)
    assert registry.get_sample_value(CIRCUIT_STATE_METRIC, {"service": "pinecone"}) == 2

    started = time.monotonic()
    with pytest.raises(CircuitOpen) as caught:
        await index.query([1.0, 0.0], top_k=3)
    assert time.monotonic() - started < 0.2
    assert caught.value.retry_after_seconds == 1
    assert fake.count(QUERY) == 2

    clock.advance(0.35)
    fake.behaviour = Behaviour()
    assert await index.query([1.0, 0.0], top_k=3) == []
    assert registry.get_sample_value(CIRCUIT_STATE_METRIC, {"service": "pinecone"}) == 0
    assert fake.count(QUERY) == 3
