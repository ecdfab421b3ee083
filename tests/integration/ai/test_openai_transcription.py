"""The OpenAI transcription adapter through the official SDK against a local server
speaking ``POST /v1/audio/transcriptions``: the multipart request, both answer shapes,
bounded retries, timeouts, refusals and the shared OpenAI breaker."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from openai import AsyncOpenAI
from prometheus_client import CollectorRegistry

from tests.integration.ai.fake_servers import Behaviour, serve
from tests.integration.ai.fake_transcription import (
    SAID,
    FakeTranscriptions,
    transcription_app,
)
from vetchart.adapters.ai.breaker import CircuitBreakers, RetryPolicy
from vetchart.adapters.ai.openai_adapter import build_openai_client
from vetchart.adapters.ai.openai_transcription import OpenAITranscriber
from vetchart.services.ports.ai import CircuitOpen, ServiceUnavailable
from vetchart.services.ports.speech import SpeechToText, TranscriptionRejected

AUDIO = (Path(__file__).parents[2] / "fixtures" / "audio" / "one-to-five.flac").read_bytes()
FAST = RetryPolicy(
    attempts=3, initial_backoff_seconds=0.01, max_backoff_seconds=0.05, jitter_seconds=0.01
)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FakeTranscriptions, str]]:
    service = FakeTranscriptions()
    with serve(transcription_app(service)) as url:
        yield service, f"{url}/v1"


@pytest.fixture
def fake(server: tuple[FakeTranscriptions, str]) -> FakeTranscriptions:
    server[0].reset()
    return server[0]


@pytest.fixture
async def client(server: tuple[FakeTranscriptions, str]) -> AsyncIterator[AsyncOpenAI]:
    client = build_openai_client(api_key="test-key", base_url=server[1], timeout_seconds=5)
    yield client
    await client.close()


@pytest.fixture
def breakers() -> CircuitBreakers:
    return CircuitBreakers(CollectorRegistry())


def transcriber(
    client: AsyncOpenAI, breakers: CircuitBreakers, **overrides: object
) -> OpenAITranscriber:
    options: dict[str, object] = {
        "model": "whisper-1",
        "breaker": breakers.get("openai"),
        "retry": FAST,
        "timeout_seconds": 2.0,
    }
    options.update(overrides)
    return OpenAITranscriber(client, **options)  # type: ignore[arg-type]


async def test_whisper_gets_the_recording_as_multipart_and_answers_segments(
    fake: FakeTranscriptions, client: AsyncOpenAI, breakers: CircuitBreakers
) -> None:
    port: SpeechToText = transcriber(client, breakers)
    transcript = await port.transcribe(AUDIO, "audio/flac", "en")
    [upload] = fake.uploads
    assert upload.authorization == "Bearer test-key"
    assert (upload.file_name, upload.content_type) == ("recording.flac", "audio/flac")
    assert (upload.size, upload.sha256) == (len(AUDIO), hashlib.sha256(AUDIO).hexdigest())
    assert upload.fields["model"] == ["whisper-1"]
    assert upload.fields["language"] == ["en"]
    assert upload.fields["response_format"] == ["verbose_json"]
    assert upload.fields["timestamp_granularities[]"] == ["segment"]
    assert transcript.text == SAID
    assert (transcript.adapter, transcript.model, transcript.language) == (
        "openai",
        "whisper-1",
        "english",
    )
    assert transcript.duration_seconds == 6.0
    assert [(s.start, s.end, s.text) for s in transcript.segments] == [
        (0.0, 2.0, "The dog has been limping on the left hind leg."),
        (2.0, 4.0, "No swelling."),
        (4.0, 6.0, "Rest for a week."),
    ]


async def test_gpt_4o_transcribe_is_asked_for_json_without_a_language(
    fake: FakeTranscriptions, client: AsyncOpenAI, breakers: CircuitBreakers
) -> None:
    port = transcriber(client, breakers, model="gpt-4o-transcribe")
    transcript = await port.transcribe(AUDIO, "audio/mpeg")
    [upload] = fake.uploads
    assert upload.fields["response_format"] == ["json"]
    assert "language" not in upload.fields
    assert "timestamp_granularities[]" not in upload.fields
    assert upload.file_name == "recording.mp3"
    assert (transcript.text, transcript.segments, transcript.duration_seconds) == (SAID, (), None)
    assert transcript.model == "gpt-4o-transcribe"


async def test_a_passing_failure_is_retried(
    fake: FakeTranscriptions, client: AsyncOpenAI, breakers: CircuitBreakers
) -> None:
    fake.behaviour = Behaviour(failures=2, status=503)
    transcript = await transcriber(client, breakers).transcribe(AUDIO, "audio/flac")
    assert transcript.text == SAID
    assert fake.count() == 3


async def test_a_service_that_stays_down_is_unavailable_after_bounded_attempts(
    fake: FakeTranscriptions, client: AsyncOpenAI, breakers: CircuitBreakers
) -> None:
    fake.behaviour = Behaviour(failures=-1, status=500)
    with pytest.raises(ServiceUnavailable) as caught:
        await transcriber(client, breakers).transcribe(AUDIO, "audio/flac")
    assert caught.value.retryable
    assert fake.count() == 3


async def test_a_slow_service_times_out(
    fake: FakeTranscriptions, client: AsyncOpenAI, breakers: CircuitBreakers
) -> None:
    fake.behaviour = Behaviour(delay=1.0)
    port = transcriber(client, breakers, timeout_seconds=0.1, retry=RetryPolicy(attempts=1))
    with pytest.raises(ServiceUnavailable, match="did not answer in time") as caught:
        await port.transcribe(AUDIO, "audio/flac")
    assert caught.value.retryable
    assert fake.count() == 1


@pytest.mark.parametrize("status", [400, 413, 422])
async def test_a_refused_recording_is_rejected_without_retries(
    fake: FakeTranscriptions, client: AsyncOpenAI, breakers: CircuitBreakers, status: int
) -> None:
    fake.behaviour = Behaviour(failures=1, status=status)
    with pytest.raises(TranscriptionRejected, match=f"HTTP {status}"):
        await transcriber(client, breakers).transcribe(AUDIO, "audio/flac")
    assert fake.count() == 1
    assert breakers.get("openai").consecutive_failures == 0  # it answered: healthy


async def test_a_wrong_key_is_unavailable_not_a_refused_recording(
    fake: FakeTranscriptions, server: tuple[FakeTranscriptions, str], breakers: CircuitBreakers
) -> None:
    wrong = build_openai_client(api_key="wrong", base_url=server[1], timeout_seconds=5)
    try:
        with pytest.raises(ServiceUnavailable) as caught:
            await transcriber(wrong, breakers).transcribe(AUDIO, "audio/flac")
    finally:
        await wrong.close()
    assert not isinstance(caught.value, TranscriptionRejected)
    assert not caught.value.retryable
    assert fake.count() == 1


@pytest.mark.parametrize(
    ("audio", "content_type", "reason"),
    [(b"", "audio/flac", "empty"), (AUDIO, "video/x-matroska", "cannot be transcribed")],
)
async def test_what_cannot_be_sent_is_refused_before_any_request(
    fake: FakeTranscriptions,
    client: AsyncOpenAI,
    breakers: CircuitBreakers,
    audio: bytes,
    content_type: str,
    reason: str,
) -> None:
    with pytest.raises(TranscriptionRejected, match=reason):
        await transcriber(client, breakers).transcribe(audio, content_type)
    assert fake.count() == 0


async def test_the_open_breaker_spares_the_service(
    fake: FakeTranscriptions, client: AsyncOpenAI
) -> None:
    breakers = CircuitBreakers(CollectorRegistry())
    breaker = breakers.get("openai", failure_threshold=2, reset_timeout_seconds=60)
    fake.behaviour = Behaviour(failures=-1, status=503)
    port = transcriber(client, breakers, breaker=breaker, retry=RetryPolicy(attempts=1))
    for _ in range(2):
        with pytest.raises(ServiceUnavailable):
            await port.transcribe(AUDIO, "audio/flac")
    with pytest.raises(CircuitOpen):
        await port.transcribe(AUDIO, "audio/flac")
    assert fake.count() == 2
