"""The OpenAI adapters through the official SDK against a local OpenAI-shaped server:
requests, grounding, JSON summaries, timeouts, bounded retries and the breaker."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import pytest
from openai import AsyncOpenAI
from prometheus_client import CollectorRegistry

from tests.clock import ManualClock
from tests.integration.ai.fake_servers import Behaviour, FakeService, fake_vector
from vetchart.adapters.ai.breaker import CIRCUIT_STATE_METRIC, CircuitBreakers, RetryPolicy
from vetchart.adapters.ai.openai_adapter import (
    NOT_IN_SOURCES,
    PROMPT_VERSION,
    OpenAIAnswerer,
    OpenAIEmbedder,
    OpenAISummarizer,
    build_openai_client,
)
from vetchart.domain.kb.answers import Passage
from vetchart.domain.kb.summaries import TextSpan
from vetchart.services.ports.ai import (
    Answerer,
    CircuitOpen,
    Embedder,
    ServiceUnavailable,
    Summarizer,
)

EMBEDDINGS = "/v1/embeddings"
CHAT = "/v1/chat/completions"
FAST = RetryPolicy(
    attempts=3, initial_backoff_seconds=0.01, max_backoff_seconds=0.05, jitter_seconds=0.01
)
PASSAGES = [
    Passage(n=1, title="Canine parvovirus", text="Parvovirus is shed in faeces."),
    Passage(n=2, title="Vaccination schedule for dogs", text="Puppies start at 6-8 weeks."),
]


@pytest.fixture
def fake(openai_server: tuple[FakeService, str]) -> FakeService:
    service, _ = openai_server
    service.reset()
    return service


@pytest.fixture
async def client(openai_server: tuple[FakeService, str]) -> AsyncIterator[AsyncOpenAI]:
    client = build_openai_client(api_key="test-key", base_url=openai_server[1], timeout_seconds=5)
    yield client
    await client.close()


@pytest.fixture
def breakers() -> CircuitBreakers:
    return CircuitBreakers(CollectorRegistry())


def embedder(client: AsyncOpenAI, breakers: CircuitBreakers, **overrides: object) -> OpenAIEmbedder:
    options: dict[str, object] = {
        "model": "text-embedding-3-small",
        "dimensions": 8,
        "breaker": breakers.get("openai"),
        "retry": FAST,
        "timeout_seconds": 2.0,
    }
    options.update(overrides)
    return OpenAIEmbedder(client, **options)  # type: ignore[arg-type]


async def test_embeddings_come_back_in_input_order_in_batches(
    fake: FakeService, client: AsyncOpenAI, breakers: CircuitBreakers
) -> None:
    port: Embedder = embedder(client, breakers, batch_size=2)
    texts = ["alpha", "beta", "gamma"]
    assert await port.embed(texts) == [fake_vector(text, 8) for text in texts]
    assert [r.body["input"] for r in fake.requests] == [["alpha", "beta"], ["gamma"]]
    first = fake.requests[0].body
    assert first["model"] == "text-embedding-3-small"
    assert first["dimensions"] == 8
    assert first["encoding_format"] == "float"
    assert port.model == "text-embedding-3-small"
    assert port.dimensions == 8
    assert await port.embed([]) == []
    assert fake.count(EMBEDDINGS) == 2


async def test_an_embedding_of_the_wrong_size_is_refused(
    fake: FakeService, client: AsyncOpenAI, breakers: CircuitBreakers
) -> None:
    fake.dimensions = 4
    port = embedder(client, breakers, send_dimensions=False)
    with pytest.raises(ServiceUnavailable) as caught:
        await port.embed(["alpha"])
    assert not caught.value.retryable
    assert "dimensions" not in fake.requests[0].body
    with pytest.raises(ValueError, match="empty"):
        await port.embed(["  "])


async def test_answers_rest_on_numbered_passages_and_keep_only_real_citations(
    fake: FakeService, client: AsyncOpenAI, breakers: CircuitBreakers
) -> None:
    fake.chat_content = "Parvo is shed in faeces [1]. Vaccinate early [2][7]."
    answerer: Answerer = OpenAIAnswerer(
        client, model="gpt-test", breaker=breakers.get("openai"), retry=FAST, timeout_seconds=2
    )
    answer = await answerer.answer("How does parvo spread?", PASSAGES, "pet-owner")
    assert answer.text == "Parvo is shed in faeces [1]. Vaccinate early [2]."
    assert answer.cited == (1, 2)
    assert answer.mode == "generated"
    assert answer.grounded
    assert (answer.model, answer.prompt_version) == ("gpt-test", PROMPT_VERSION)
    body = fake.requests[0].body
    system, user = body["messages"]
    assert system["role"] == "system"
    assert user["role"] == "user"
    assert "using only the numbered reference passages" in system["content"]
    assert NOT_IN_SOURCES in system["content"]
    assert "plain everyday words" in system["content"]
    assert "[1] Canine parvovirus\nParvovirus is shed in faeces." in user["content"]
    assert user["content"].endswith("Question: How does parvo spread?")
    assert "temperature" not in body
    assert body["model"] == "gpt-test"

    await answerer.answer("Dose?", PASSAGES, "expert")
    assert "precise clinical terms" in fake.requests[1].body["messages"][0]["content"]


async def test_an_answer_the_passages_do_not_hold_is_marked_ungrounded(
    fake: FakeService, client: AsyncOpenAI, breakers: CircuitBreakers
) -> None:
    answerer = OpenAIAnswerer(client, model="gpt-test", breaker=breakers.get("openai"))
    fake.chat_content = f"{NOT_IN_SOURCES} They cover vaccination [2]."
    answer = await answerer.answer("Is ibuprofen safe?", PASSAGES, "expert")
    assert not answer.grounded
    assert answer.cited == ()
    fake.chat_content = "Ibuprofen is fine."  # no citation at all: not grounded either
    assert not (await answerer.answer("Is ibuprofen safe?", PASSAGES, "expert")).grounded
    no_sources = await answerer.answer("Anything?", [], "expert")
    assert no_sources.text == NOT_IN_SOURCES
    assert not no_sources.grounded
    assert fake.count(CHAT) == 2


TRANSCRIPT = (
    "Owner: She has been vomiting since Monday.\n"
    "Vet: Her temperature is 39.5 degrees. Likely gastroenteritis.\n"
    "Vet: We'll start a bland diet. Recheck in two days."
)


async def test_summaries_are_json_with_provenance_turned_into_spans(
    fake: FakeService, client: AsyncOpenAI, breakers: CircuitBreakers
) -> None:
    fake.chat_content = json.dumps(
        {
            "presenting_complaint": {"text": "Vomiting since Monday.", "sentences": [1]},
            "findings": {"text": "T 39.5 °C.", "sentences": [2]},
            "assessment": {"text": "Probable gastroenteritis.", "sentences": [3]},
            "plan": {"text": "Bland diet.", "sentences": [4]},
            "follow_up": {"text": "Recheck in 2 days.", "sentences": [5, 5]},
            "extra_key": "ignored",
        }
    )
    summarizer: Summarizer = OpenAISummarizer(
        client, model="gpt-test", breaker=breakers.get("openai"), retry=FAST, timeout_seconds=2
    )
    draft = await summarizer.summarize(TRANSCRIPT)
    assert (draft.adapter, draft.model, draft.prompt_version) == (
        "openai",
        "gpt-test",
        PROMPT_VERSION,
    )
    complaint = draft.summary.section("presenting_complaint")
    assert complaint.text == "Vomiting since Monday."
    assert [TRANSCRIPT[s.start : s.end] for s in complaint.spans] == [
        "She has been vomiting since Monday."
    ]
    follow_up = draft.summary.section("follow_up").spans
    assert follow_up == (TextSpan(TRANSCRIPT.index("Recheck"), len(TRANSCRIPT)),)
    body = fake.requests[0].body
    assert body["response_format"] == {"type": "json_object"}
    assert (
        "S1: She has been vomiting since Monday.\nS2: Her temperature"
        in (body["messages"][1]["content"])
    )


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[1, 2]",
        json.dumps({"plan": {"text": "Fluids.", "sentences": [99]}}),
        json.dumps({"plan": {"text": "Fluids.", "sentences": []}}),
        json.dumps({"plan": {"text": 5, "sentences": [1]}}),
        json.dumps({"plan": {"text": "Fluids.", "sentences": [True]}}),
        json.dumps({"plan": "Fluids."}),
    ],
)
async def test_malformed_summaries_are_refused_not_stored(
    fake: FakeService, client: AsyncOpenAI, breakers: CircuitBreakers, content: str
) -> None:
    fake.chat_content = content
    summarizer = OpenAISummarizer(client, model="gpt-test", breaker=breakers.get("openai"))
    with pytest.raises(ServiceUnavailable) as caught:
        await summarizer.summarize(TRANSCRIPT)
    assert not caught.value.retryable
    assert fake.count(CHAT) == 1


async def test_the_per_call_timeout_fires_and_retries_stay_bounded(
    fake: FakeService, client: AsyncOpenAI, breakers: CircuitBreakers
) -> None:
    fake.behaviour = Behaviour(delay=1.0)
    two_attempts = RetryPolicy(attempts=2, initial_backoff_seconds=0.01, jitter_seconds=0.01)
    port = embedder(client, breakers, timeout_seconds=0.2, retry=two_attempts)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable, match="in time"):
        await port.embed(["alpha"])
    elapsed = time.monotonic() - started
    assert 0.4 <= elapsed < 0.9
    assert fake.count(EMBEDDINGS) == 2


@pytest.mark.parametrize(("status", "requests"), [(503, 3), (500, 3), (429, 3), (400, 1), (401, 1)])
async def test_only_retryable_statuses_are_retried(
    fake: FakeService, client: AsyncOpenAI, breakers: CircuitBreakers, status: int, requests: int
) -> None:
    fake.behaviour = Behaviour(failures=-1, status=status)
    with pytest.raises(ServiceUnavailable) as caught:
        await embedder(client, breakers).embed(["alpha"])
    assert fake.count(EMBEDDINGS) == requests
    assert caught.value.retryable is (requests > 1)


async def test_a_transient_rate_limit_is_ridden_out(
    fake: FakeService, client: AsyncOpenAI, breakers: CircuitBreakers
) -> None:
    fake.behaviour = Behaviour(failures=2, status=429)
    assert await embedder(client, breakers).embed(["alpha"]) == [fake_vector("alpha", 8)]
    assert fake.count(EMBEDDINGS) == 3
    assert breakers.get("openai").consecutive_failures == 0


async def test_the_breaker_opens_answers_fast_then_half_opens_and_closes(
    fake: FakeService, client: AsyncOpenAI
) -> None:
    registry = CollectorRegistry()
    clock = ManualClock()
    breakers = CircuitBreakers(registry, clock=clock)
    breakers.get("openai", failure_threshold=3, reset_timeout_seconds=0.3)
    port = embedder(client, breakers, retry=RetryPolicy(attempts=1))

    def state() -> float | None:
        return registry.get_sample_value(CIRCUIT_STATE_METRIC, {"service": "openai"})

    fake.behaviour = Behaviour(failures=-1, status=503)
    for _ in range(3):
        with pytest.raises(ServiceUnavailable):
            await port.embed(["alpha"])
    assert state() == 2
    started = time.monotonic()
    with pytest.raises(CircuitOpen):
        await port.embed(["alpha"])
    assert time.monotonic() - started < 0.2
    assert fake.count(EMBEDDINGS) == 3  # the open circuit never reached the server

    clock.advance(0.29)
    assert state() == 2  # still open until the reset timeout has passed
    clock.advance(0.06)
    assert state() == 1
    fake.behaviour = Behaviour()
    assert await port.embed(["alpha"]) == [fake_vector("alpha", 8)]
    assert state() == 0
    assert fake.count(EMBEDDINGS) == 4


async def test_a_failed_trial_call_reopens_the_circuit(
    fake: FakeService, client: AsyncOpenAI
) -> None:
    clock = ManualClock()
    breakers = CircuitBreakers(clock=clock)
    breakers.get("openai", failure_threshold=1, reset_timeout_seconds=0.2)
    answerer = OpenAIAnswerer(
        client, model="gpt-test", breaker=breakers.get("openai"), retry=RetryPolicy(attempts=1)
    )
    fake.behaviour = Behaviour(failures=-1, status=502)
    with pytest.raises(ServiceUnavailable):
        await answerer.answer("q", PASSAGES, "expert")
    clock.advance(0.25)
    with pytest.raises(ServiceUnavailable) as trial:
        await answerer.answer("q", PASSAGES, "expert")
    assert not isinstance(trial.value, CircuitOpen)
    started = time.monotonic()
    with pytest.raises(CircuitOpen):
        await answerer.answer("q", PASSAGES, "expert")
    assert time.monotonic() - started < 0.2
    assert fake.count(CHAT) == 2
    assert breakers.snapshot()["openai"]["state"] == "open"
