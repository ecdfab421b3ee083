"""Knowledge base: retrieval quality on the demo set, label filters, access, and the
statement count of a question. The demo documents are uploaded through the API and
ingested the worker's way (the outbox delivered), once per test module."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from fastapi import FastAPI

from tests.api.auth_helpers import (
    ADMIN,
    OWNER,
    RIVERSIDE_MANAGER,
    RIVERSIDE_TECH,
    RIVERSIDE_VET,
    audit_rows,
    cheap_auth,
)
from tests.api.clients_helpers import assert_problem
from tests.api.kb_helpers import (
    DOCUMENT_FIELDS,
    KB,
    ask,
    ask_ok,
    ingest_demo_set,
    kb_settings,
    kb_world,
    upload,
)
from tests.api.sql_counter import count_statements
from tests.fixtures.world import World, template_copy
from tests.kb_questions import KB_QUESTIONS, TOP_K


class DemoKb:
    def __init__(self, world: World, ids: dict[str, str], labels: dict[str, dict[str, Any]]):
        self.world = world
        self.ids = ids
        self.names = {document_id: name for name, document_id in ids.items()}
        self.labels = labels

    def documents_of(self, answer: dict[str, Any]) -> list[str]:
        return [self.names[source["document_id"]] for source in answer["sources"]]


# One demo knowledge base for the module (the tests only read it, or are refused).
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def demo_kb(
    pg_server_url: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[DemoKb]:
    data_dir = tmp_path_factory.mktemp("kb")
    async with template_copy(pg_server_url, template_database, "kb") as database_url:
        # No principal cache: every request looks its session up, so counts are exact.
        settings = kb_settings(database_url, data_dir, auth=cheap_auth(session_cache_seconds=0))
        async with kb_world(settings, database_url) as world:
            ids = await ingest_demo_set(world)
            response = await world.client.get(
                f"{KB}/documents?limit=50", headers=await world.h(ADMIN)
            )
            assert response.status_code == 200, response.text
            listed = response.json()
            assert listed["next_cursor"] is None
            labels = {item["id"]: item for item in listed["items"]}
            yield DemoKb(world, ids, labels)


async def test_retrieval_quality_on_the_demo_set(demo_kb: DemoKb) -> None:
    """Every question of the fixture table finds its document among the top 3 sources."""
    assert len(demo_kb.ids) == 12
    for item in demo_kb.labels.values():
        assert set(item) == DOCUMENT_FIELDS
        assert item["state"] == "ingested", item
        assert item["chunk_count"] > 0
        assert item["error"] is None
    misses: list[tuple[str, str, list[str]]] = []
    for question in KB_QUESTIONS:
        answer = await ask_ok(demo_kb.world, question.question)
        top = demo_kb.documents_of(answer)[:TOP_K]
        if question.expected_document not in top:
            misses.append((question.question, question.expected_document, top))
        assert answer["mode"] == "extractive"
        assert answer["degraded"] is False
        assert answer["answer"], question
        assert set(answer["timings_ms"]) >= {"retrieve", "answer", "total"}
    hits = len(KB_QUESTIONS) - len(misses)
    print(
        f"\nknowledge-base retrieval: {hits}/{len(KB_QUESTIONS)} questions with the expected "
        f"document in the top {TOP_K} sources ({hits / len(KB_QUESTIONS):.0%})"
    )
    assert misses == [], misses


async def test_an_extractive_answer_cites_its_numbered_sources(demo_kb: DemoKb) -> None:
    answer = await ask_ok(demo_kb.world, "Are grapes and raisins poisonous to dogs?")
    assert "[1]" in answer["answer"]
    first = answer["sources"][0]
    assert demo_kb.names[first["document_id"]] == "toxic-foods.md"
    assert first["title"] == "Foods that are poisonous to dogs and cats"
    assert "grape" in first["excerpt"].lower() or "raisin" in first["excerpt"].lower()
    assert first["score"] > 0
    # max_sources bounds the sources.
    two = await ask_ok(demo_kb.world, "Are grapes and raisins poisonous to dogs?", max_sources=2)
    assert len(two["sources"]) == 2
    # A question the documents do not cover gets no invented answer.
    none = await ask_ok(demo_kb.world, "quantum chromodynamics lattice gauge")
    assert none["sources"] == []
    assert "do not answer" in none["answer"]


@pytest.mark.parametrize(
    ("body", "allowed"),
    [
        ({"species": ["cat"]}, lambda labels: "cat" in labels["species"]),
        ({"species": "dog"}, lambda labels: "dog" in labels["species"]),
        ({"audience": "expert"}, lambda labels: labels["audience"] == "expert"),
        ({"audience": "pet-owner"}, lambda labels: labels["audience"] == "pet-owner"),
        ({"body_system": "urinary"}, lambda labels: labels["body_system"] == "urinary"),
        ({"doc_type": "guideline"}, lambda labels: labels["doc_type"] == "guideline"),
        ({"symptoms": ["honking cough"]}, lambda labels: "honking cough" in labels["symptoms"]),
        (
            {"species": ["cat"], "audience": "expert", "body_system": "Urinary"},
            lambda labels: (
                "cat" in labels["species"]
                and labels["audience"] == "expert"
                and labels["body_system"] == "urinary"
            ),
        ),
    ],
    ids=["species", "species-str", "expert", "pet-owner", "body", "type", "symptom", "all"],
)
async def test_label_filters_exclude_what_they_should(
    demo_kb: DemoKb, body: dict[str, Any], allowed: Any
) -> None:
    question = "vaccination schedule vomiting cough urine poisoning treatment signs"
    unfiltered = await ask_ok(demo_kb.world, question, max_sources=20)
    refused = {
        source["document_id"]
        for source in unfiltered["sources"]
        if not allowed(demo_kb.labels[source["document_id"]])
    }
    assert refused, "the unfiltered question must reach documents the filter excludes"
    filtered = await ask_ok(demo_kb.world, question, max_sources=20, **body)
    assert filtered["sources"], body
    for source in filtered["sources"]:
        assert allowed(demo_kb.labels[source["document_id"]]), (body, source["title"])


async def test_filters_can_leave_nothing(demo_kb: DemoKb) -> None:
    answer = await ask_ok(
        demo_kb.world, "vaccination boosters", species=["dog"], body_system="urinary"
    )
    assert answer["sources"] == []
    assert answer["mode"] == "extractive"


async def test_cat_vaccines_filter_keeps_the_cat_guideline_only(demo_kb: DemoKb) -> None:
    question = "When are the core vaccine boosters given?"
    both = demo_kb.documents_of(await ask_ok(demo_kb.world, question, max_sources=10))
    assert {"dog-vaccination-schedule.md", "cat-vaccination-schedule.md"} <= set(both)
    cats = demo_kb.documents_of(
        await ask_ok(demo_kb.world, question, max_sources=10, species=["cat"])
    )
    assert "cat-vaccination-schedule.md" in cats
    assert "dog-vaccination-schedule.md" not in cats


async def test_invalid_questions_are_422(demo_kb: DemoKb) -> None:
    world = demo_kb.world
    for body in (
        {"question": ""},
        {"question": "x" * 1001},
        {"question": "parvo", "max_sources": 0},
        {"question": "parvo", "max_sources": 21},
        {"question": "parvo", "audience": "owners"},
        {"question": "parvo", "species": ["<script>"]},
        {"question": "parvo", "unknown": 1},
    ):
        response = await world.client.post(f"{KB}/query", json=body, headers=await world.h(OWNER))
        assert_problem(response, 422)
    assert_problem(await ask(world, "   "), 422)


async def test_everyone_signed_in_may_read_and_ask_but_only_admins_manage(
    demo_kb: DemoKb,
) -> None:
    world = demo_kb.world
    some_id = demo_kb.ids["kennel-cough.md"]
    for email in (OWNER, RIVERSIDE_TECH, RIVERSIDE_VET, RIVERSIDE_MANAGER, ADMIN):
        headers = await world.h(email)
        assert (await world.client.get(f"{KB}/documents", headers=headers)).status_code == 200
        assert (
            await world.client.get(f"{KB}/documents/{some_id}", headers=headers)
        ).status_code == 200
        assert (await ask(world, "kennel cough", email)).status_code == 200
    for email in (OWNER, RIVERSIDE_TECH, RIVERSIDE_VET, RIVERSIDE_MANAGER):
        assert_problem(await upload(world, "notes.md", b"# Notes\n\nText.", email=email), 403)
        headers = await world.h(email)
        response = await world.client.delete(f"{KB}/documents/{some_id}", headers=headers)
        assert_problem(response, 403)
    # Refusals are audited (the one denial handler, from the route's declared action).
    denied = [
        row
        for row in await audit_rows(world.app, "kb_document.delete")
        if row["outcome"] == "denied"
    ]
    assert len(denied) == 4
    assert {row["resource_id"] for row in denied} == {some_id}
    assert (
        len(
            [
                row
                for row in await audit_rows(world.app, "kb_document.create")
                if row["outcome"] == "denied"
            ]
        )
        == 4
    )
    # Nobody anonymous.
    for method, url in (
        ("GET", f"{KB}/documents"),
        ("GET", f"{KB}/documents/{some_id}"),
        ("DELETE", f"{KB}/documents/{some_id}"),
        ("POST", f"{KB}/query"),
    ):
        response = await world.client.request(method, url, json={"question": "parvo"})
        assert_problem(response, 401)
    assert_problem(await upload(world, "notes.md", b"# Notes", email=""), 401)
    missing = "01890000-0000-7000-8000-000000000000"
    response = await world.client.get(f"{KB}/documents/{missing}", headers=await world.h(OWNER))
    assert_problem(response, 404)


async def test_document_list_pages_by_title(demo_kb: DemoKb) -> None:
    world = demo_kb.world
    headers = await world.h(OWNER)
    titles: list[str] = []
    url = f"{KB}/documents?limit=5"
    while url:
        body = (await world.client.get(url, headers=headers)).json()
        titles += [item["title"] for item in body["items"]]
        url = f"{KB}/documents?limit=5&cursor={body['next_cursor']}" if body["next_cursor"] else ""
    assert len(titles) == 12
    assert titles == sorted(titles)
    ingested = await world.client.get(f"{KB}/documents?state=ingested", headers=headers)
    assert len(ingested.json()["items"]) == 12
    failed = await world.client.get(f"{KB}/documents?state=failed", headers=headers)
    assert failed.json()["items"] == []


async def _statements(app: FastAPI, world: World, **body: Any) -> int:
    headers = await world.h(OWNER)
    with count_statements(app) as counter:
        response = await world.client.post(f"{KB}/query", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return counter.count


async def test_a_question_costs_a_constant_number_of_statements(demo_kb: DemoKb) -> None:
    """Session lookup + one search statement, whatever the question, filters or sources."""
    world = demo_kb.world
    counts = {
        await _statements(world.app, world, question="parvo"),
        await _statements(
            world.app, world, question="How is parvovirus spread between dogs?", max_sources=20
        ),
        await _statements(
            world.app,
            world,
            question="cat vaccines and lily poisoning and diabetes",
            species=["cat"],
            audience="expert",
            symptoms=["vomiting", "lethargy"],
            body_system="urinary",
            doc_type="condition",
        ),
        await _statements(world.app, world, question="nothing matches zzzz"),
    }
    assert counts == {2}, counts
