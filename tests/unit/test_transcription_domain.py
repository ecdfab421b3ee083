"""The transcription rules of a visit (domain/transcription.py) and the choice of
adapter from the settings (adapters/ai/speech_wiring.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry

from vetchart.adapters.ai.breaker import CircuitBreakers
from vetchart.adapters.ai.local_transcription import LocalTranscriber
from vetchart.adapters.ai.openai_transcription import OpenAITranscriber
from vetchart.adapters.ai.speech_wiring import build_transcriber
from vetchart.config import AiSettings, ConfigurationError, SttSettings
from vetchart.domain.appointments import StoredFile, Visit, VisitState
from vetchart.domain.errors import Conflict, RuleViolation
from vetchart.domain.transcription import (
    TranscriptionStatus,
    audio_attached,
    client_transcript_changed,
    request_transcription,
    wants_transcription,
)
from vetchart.services.ports.speech import NoTranscriber

NOW = datetime(2026, 12, 5, 12, tzinfo=UTC)


def visit(transcript: str | None = None, audio_key: str | None = "visit-audio/a") -> Visit:
    v = Visit(
        id=uuid.uuid4(),
        pet_id=uuid.uuid4(),
        practice_id=uuid.uuid4(),
        appointment_id=None,
        visit_date=NOW,
        transcript_text=transcript,
        state=VisitState.NEW,
        created_by=uuid.uuid4(),
        created_at=NOW,
        updated_at=NOW,
    )
    client_transcript_changed(v)
    if audio_key:
        v.audio = StoredFile(key=audio_key, content_type="audio/wav", size_bytes=1, sha256="x")
    return v


def test_an_upload_queues_the_recording_only_when_it_may() -> None:
    queued = visit()
    event = audio_attached(queued, configured=True)
    assert event is not None
    assert event.audio_key == "visit-audio/a"
    assert queued.transcription_status is TranscriptionStatus.PENDING
    assert wants_transcription(queued, "visit-audio/a")
    assert not wants_transcription(queued, "visit-audio/older")

    typed = visit("Typed.")
    assert audio_attached(typed, configured=True) is None
    assert typed.transcription_status is TranscriptionStatus.NOT_REQUESTED
    assert typed.transcript_source == "client"

    unconfigured = visit()
    assert audio_attached(unconfigured, configured=False) is None
    assert unconfigured.transcription_status is TranscriptionStatus.NOT_CONFIGURED


def test_asking_again_follows_the_state() -> None:
    v = visit()
    assert audio_attached(v, configured=True) is not None
    assert request_transcription(v, configured=True) is None  # already queued
    v.transcription_status = TranscriptionStatus.FAILED
    v.transcription_error = "down"
    again = request_transcription(v, configured=True)
    assert again is not None
    assert (v.transcription_status, v.transcription_error) == (TranscriptionStatus.PENDING, None)
    v.transcription_status = TranscriptionStatus.DONE
    with pytest.raises(Conflict) as done:
        request_transcription(v, configured=True)
    assert done.value.code == "transcription-done"
    assert not wants_transcription(v, "visit-audio/a")


@pytest.mark.parametrize(
    ("v", "configured", "error", "code"),
    [
        (visit(audio_key=None), True, RuleViolation, "rule-violation"),
        (visit("Typed."), True, Conflict, "transcript-supplied"),
        (visit(), False, Conflict, "transcription-not-configured"),
    ],
    ids=["no-recording", "client-transcript", "not-configured"],
)
def test_refusals_change_nothing(
    v: Visit, configured: bool, error: type[Exception], code: str
) -> None:
    before = (v.transcription_status, v.transcription_audio_key, v.transcription_attempts)
    with pytest.raises(error) as refused:
        request_transcription(v, configured=configured)
    assert getattr(refused.value, "code", None) == code
    assert (v.transcription_status, v.transcription_audio_key, v.transcription_attempts) == before


def test_clearing_a_machine_transcript_forgets_it() -> None:
    v = visit()
    v.transcript_text, v.transcript_source = "Machine words.", "openai"
    v.transcription_status = TranscriptionStatus.DONE
    v.transcription = {"model": "whisper-1"}
    v.transcript_text = None
    client_transcript_changed(v)
    assert (v.transcript_source, v.transcription_status, v.transcription) == (
        None,
        TranscriptionStatus.NOT_REQUESTED,
        None,
    )


def test_the_settings_choose_the_adapter() -> None:
    breakers = CircuitBreakers(CollectorRegistry())
    assert isinstance(
        build_transcriber(SttSettings(provider="none"), AiSettings(), breakers).transcriber,
        NoTranscriber,
    )
    assert isinstance(
        build_transcriber(SttSettings(provider="local"), AiSettings(), breakers).transcriber,
        LocalTranscriber,
    )
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        build_transcriber(SttSettings(provider="openai"), AiSettings(openai_api_key=None), breakers)
    openai = build_transcriber(
        SttSettings(provider="openai", model="gpt-4o-transcribe"),
        AiSettings(openai_api_key="k"),
        breakers,
    )
    assert isinstance(openai.transcriber, OpenAITranscriber)
    assert openai.transcriber.model == "gpt-4o-transcribe"
    assert not openai.transcriber.verbose
    assert len(openai.closers) == 1
