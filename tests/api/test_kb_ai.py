"""The knowledge base with outside AI services: generated answers and embeddings from a
local OpenAI-compatible server, vectors in a local Pinecone-shaped server, and what
happens when they fail: extractive answers marked ``degraded``, fast while the circuit is
open, circuit states in /metrics and /health/ready, ingestion retried later."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.api.auth_helpers import ADMIN, OWNER, RIVERSIDE_VET
from tests.api.kb_helpers import KB, ask_ok, chunk_rows, document, kb_settings, kb_world
from tests.fixtures.world import World
from tests.integration.ai.fake_servers import (
    Behaviour,
    FakeService,
    openai_app,
    pinecone_app,
    serve,
)
from vetchart.config import AiSettings
from vetchart.demo_kb import demo_documents
from vetchart.services.ports.ai import ServiceUnavailable

# The answer the fake chat endpoint gives.
GENERATED = "Parvovirus spreads through the faeces of infected dogs [1]."
# Answers while the circuit is open must come this fast (the request, end to end).
DEGRADED_BUDGET_SECONDS = 0.2
SOME_DOCUMENTS = ("canine-parvovirus.md", "kennel-cough.md", "lily-poisoning-in-cats.md")


@pytest.fixture(scope="module")
def openai_server() -> Iterator[tuple[FakeService, str]]:
    service = FakeService()
    with serve(openai_app(service)) as url:
        yield service, f"{url}/v1"


@pytest.fixture(scope="module")
def pinecone_server() -> Iterator[tuple[FakeService, str]]:
    service = FakeService()
    with serve(pinecone_app(service)) as url:
        yield service, url


@pytest.fixture
def openai(openai_server: tuple[FakeService, str]) -> FakeService:
    service, _ = openai_server
    service.reset()
    service.chat_content = GENERATED
    return service


def ai_settings(openai_url: str, **overrides: Any) -> AiSettings:
    values: dict[str, Any] = {
        "openai_api_key": "test-key",
        "openai_base_url": openai_url,
        "openai_chat_model": "chat-test",
        "openai_embedding_model": "embed-test",
        "openai_max_attempts": 1,
        "openai_timeout_seconds": 2.0,
        "circuit_failure_threshold": 3,
        "circuit_reset_seconds": 60.0,
    }
    values.update(overrides)
    return AiSettings(**values)


async def seed_some(world: World) -> None:
    service = world.app.state.container.kb_documents
    for doc in demo_documents():
        if doc.filename in SOME_DOCUMENTS:
            outcome = await service.ingest_bytes(doc.text.encode(), doc.filename)
            assert outcome.document.state.value == "ingested", outcome.document.error


async def has_pgvector(world: World) -> bool:
    async with world.app.state.container.engine.connect() as conn:
        return bool(
            await conn.scalar(text("SELECT to_regclass('kb_chunk_embeddings') IS NOT NULL"))
        )


async def circuit_metric(world: World, service: str) -> float:
    body = (await world.client.get("/metrics")).text
    for line in body.splitlines():
        if line.startswith(f'vetchart_circuit_state{{service="{service}"}}'):
            return float(line.split()[-1])
    raise AssertionError(f"no circuit metric for {service}:\n{body}")


async def ready_check(world: World, name: str) -> dict[str, Any]:
    response = await world.client.get("/health/ready")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert {"database", "migrations"} <= {check["name"] for check in body["checks"]}
    (check,) = [check for check in body["checks"] if check["name"] == name]
    return dict(check)


async def test_generated_answers_rest_on_the_retrieved_passages(
    database_url: str, tmp_path: Path, openai: FakeService, openai_server: tuple[FakeService, str]
) -> None:
    settings = kb_settings(database_url, tmp_path, ai=ai_settings(openai_server[1]))
    async with kb_world(settings, database_url) as world:
        await seed_some(world)
        # Chunks were embedded at ingestion (kept in pgvector where the server has it).
        assert openai.count("/v1/embeddings") == len(SOME_DOCUMENTS)
        vectors = await has_pgvector(world)

        answer = await ask_ok(world, "How is parvovirus spread between dogs?", OWNER)
        assert answer["mode"] == "generated"
        assert answer["degraded"] is False
        assert answer["answer"] == GENERATED
        assert answer["sources"][0]["title"] == "Canine parvovirus"
        chat = [r for r in openai.requests if r.path == "/v1/chat/completions"][-1]
        assert chat.body["model"] == "chat-test"
        system, user = chat.body["messages"]
        assert "plain everyday words" in system["content"]  # a pet owner asked
        assert "[1] Canine parvovirus" in user["content"]
        assert "How is parvovirus spread between dogs?" in user["content"]
        if vectors:  # the question was embedded too, and both rankings fused
            assert openai.count("/v1/embeddings") == len(SOME_DOCUMENTS) + 1
            assert set(answer["timings_ms"]) >= {"embed", "retrieve", "answer", "total"}
        else:
            assert openai.count("/v1/embeddings") == len(SOME_DOCUMENTS)

        await ask_ok(world, "How is parvovirus spread between dogs?", RIVERSIDE_VET)
        system = [r for r in openai.requests if r.path == "/v1/chat/completions"][-1].body[
            "messages"
        ][0]
        assert "veterinary professional" in system["content"]
        outcome = await world.app.state.container.kb_answers.ask(
            None, "lily pollen cat kidney", filters=_no_filters()
        )
        assert outcome.ranking == ("hybrid" if vectors else "text")
        assert await circuit_metric(world, "openai") == 0
        assert await ready_check(world, "openai") == {
            "name": "openai",
            "ok": True,
            "detail": "circuit closed",
        }


def _no_filters() -> Any:
    from vetchart.domain.kb.labels import LabelFilter

    return LabelFilter()


async def test_a_failing_service_degrades_answers_and_an_open_circuit_answers_fast(
    database_url: str, tmp_path: Path, openai: FakeService, openai_server: tuple[FakeService, str]
) -> None:
    settings = kb_settings(
        database_url, tmp_path, ai=ai_settings(openai_server[1], openai_timeout_seconds=0.3)
    )
    async with kb_world(settings, database_url) as world:
        await seed_some(world)
        question = "How is parvovirus spread between dogs?"

        openai.behaviour = Behaviour(delay=1.0)  # slower than the timeout
        slow = await ask_ok(world, question, OWNER)
        assert slow["mode"] == "extractive"
        assert slow["degraded"] is True
        assert "[1]" in slow["answer"]
        assert slow["sources"][0]["title"] == "Canine parvovirus"

        openai.behaviour = Behaviour(failures=-1, status=503)
        for _ in range(3):
            failing = await ask_ok(world, question, OWNER)
            assert (failing["mode"], failing["degraded"]) == ("extractive", True)
            if await circuit_metric(world, "openai") == 2:
                break
        assert await circuit_metric(world, "openai") == 2  # open
        check = await ready_check(world, "openai")
        assert check == {"name": "openai", "ok": True, "detail": "circuit open"}

        calls = len(openai.requests)
        for _ in range(5):
            started = time.perf_counter()
            fast = await ask_ok(world, question, OWNER)
            elapsed = time.perf_counter() - started
            assert (fast["mode"], fast["degraded"]) == ("extractive", True)
            assert fast["sources"]
            assert elapsed < DEGRADED_BUDGET_SECONDS, elapsed
        assert len(openai.requests) == calls  # refused without calling the service

        # Ingestion meanwhile waits: pending with the reason, the job is retried later.
        created = await world.client.post(
            f"{KB}/documents",
            files={"file": ("rabbits.md", b"# Rabbits\n\nRabbits eat hay.", "text/markdown")},
            headers=await world.h(ADMIN),
        )
        assert created.status_code == 202, created.text
        with pytest.raises(ServiceUnavailable):
            await world.deliver_events()
        waiting = await document(world, created.json()["id"])
        assert waiting["state"] == "pending"
        assert "retried" in waiting["error"]
        assert await chunk_rows(world.app, waiting["id"]) == []


async def test_vectors_go_to_pinecone_namespaced_and_filtered(
    database_url: str,
    tmp_path: Path,
    openai: FakeService,
    openai_server: tuple[FakeService, str],
    pinecone_server: tuple[FakeService, str],
) -> None:
    pinecone, pinecone_url = pinecone_server
    pinecone.reset()
    ai = ai_settings(
        openai_server[1],
        openai_embedding_dimensions=16,
        pinecone_api_key="pc-test-key",
        pinecone_index_host=pinecone_url,
        pinecone_namespace="kb-test",
    )
    async with kb_world(kb_settings(database_url, tmp_path, ai=ai), database_url) as world:
        await seed_some(world)
        vectors = pinecone.vectors["kb-test"]
        listed = await world.client.get(f"{KB}/documents", headers=await world.h(ADMIN))
        chunks = 0
        for item in listed.json()["items"]:
            chunks += len(await chunk_rows(world.app, item["id"]))
        assert len(vectors) == chunks
        metadata = [vector["metadata"] for vector in vectors.values()]
        assert {tuple(m["species"]) for m in metadata} == {("dog",), ("cat",)}

        outcome = await world.app.state.container.kb_answers.ask(
            None, "lily pollen", filters=_filter(species=["cat"])
        )
        assert outcome.ranking == "hybrid"
        assert outcome.sources
        assert {source.title for source in outcome.sources} == {"Lily poisoning in cats"}
        query = [r for r in pinecone.requests if r.path == "/query"][-1]
        assert query.body["namespace"] == "kb-test"
        assert query.body["filter"] == {"species": {"$in": ["cat"]}}
        assert await ready_check(world, "pinecone") == {
            "name": "pinecone",
            "ok": True,
            "detail": "circuit closed",
        }

        # Deleting a document removes its vectors too (the purge handler).
        (lily,) = [i for i in listed.json()["items"] if i["title"] == "Lily poisoning in cats"]
        response = await world.client.delete(
            f"{KB}/documents/{lily['id']}", headers=await world.h(ADMIN)
        )
        assert response.status_code == 204
        await world.deliver_events()
        remaining = {v["metadata"]["document_id"] for v in pinecone.vectors["kb-test"].values()}
        assert lily["id"] not in remaining
        assert remaining


def _filter(**labels: Any) -> Any:
    from vetchart.domain.kb.labels import LabelFilter

    return LabelFilter.build(**labels)
