"""Transcription of a visit's recording: its states, its events and its rules.

    not_requested  the visit's transcript is the client's (or there is no recording)
    not_configured a recording came but no speech-to-text service is configured
    pending        queued for the worker (after an upload, or POST .../transcription)
    transcribing   the worker is sending the recording (attempt n)
    done           transcript_text is the machine's, with its provenance
    failed         it will not transcribe without a change (reason in transcription_error)

A machine transcript never replaces one the client supplied (``transcript_source`` is
``client``): clear it (PATCH ``transcript_text: null``) to transcribe the recording.
Each recording (its storage key) is transcribed at most once.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final
from uuid import UUID

from vetchart.domain.errors import Conflict, RuleViolation
from vetchart.domain.events import DomainEvent

if TYPE_CHECKING:
    from vetchart.domain.appointments import Visit

CLIENT_SOURCE: Final = "client"
RETRY_NOTE: Final = "The transcription service is unavailable; the worker will try again."


class TranscriptionStatus(enum.StrEnum):
    NOT_REQUESTED = "not_requested"
    NOT_CONFIGURED = "not_configured"
    PENDING = "pending"
    TRANSCRIBING = "transcribing"
    DONE = "done"
    FAILED = "failed"


QUEUED: Final = frozenset({TranscriptionStatus.PENDING, TranscriptionStatus.TRANSCRIBING})


@dataclass(frozen=True, kw_only=True)
class VisitTranscriptionRequested(DomainEvent):
    """The visit's recording ``audio_key`` is to be transcribed by the worker."""

    visit_id: UUID
    pet_id: UUID
    practice_id: UUID
    audio_key: str


def client_transcript_changed(visit: Visit) -> None:
    """The client set (or cleared) the transcript: it is theirs (or nobody's)."""
    visit.transcript_source = CLIENT_SOURCE if visit.transcript_text else None
    if visit.transcript_text is None and visit.transcription_status is (TranscriptionStatus.DONE):
        visit.transcription_status = TranscriptionStatus.NOT_REQUESTED
        visit.transcription = None


def audio_attached(visit: Visit, *, configured: bool) -> VisitTranscriptionRequested | None:
    """A new recording: transcribe it unless the client supplied the transcript (then
    ``not_requested``) or no service is configured (``not_configured``)."""
    assert visit.audio is not None
    visit.transcription_audio_key = visit.audio.key
    visit.transcription_attempts = 0
    visit.transcription_error = None
    visit.transcription = None
    if visit.transcript_source == CLIENT_SOURCE:
        visit.transcription_status = TranscriptionStatus.NOT_REQUESTED
        return None
    if not configured:
        visit.transcription_status = TranscriptionStatus.NOT_CONFIGURED
        return None
    return _queue(visit)


def request_transcription(visit: Visit, *, configured: bool) -> VisitTranscriptionRequested | None:
    """``POST /visits/{id}/transcription``: queue the recording again, unless it is
    queued already (None: nothing new to do) or refused."""
    if visit.audio is None:
        raise RuleViolation(
            "The visit has no recording to transcribe.",
            rule="visit.audio_required",
            field="audio",
        )
    if visit.transcript_source == CLIENT_SOURCE:
        raise Conflict(
            "The visit's transcript was supplied by the client; clear transcript_text "
            "first to transcribe the recording.",
            code="transcript-supplied",
        )
    if not configured:
        raise Conflict(
            "No speech-to-text service is configured (VETCHART_STT_PROVIDER).",
            code="transcription-not-configured",
        )
    current = visit.transcription_audio_key == visit.audio.key
    if current and visit.transcription_status is TranscriptionStatus.DONE:
        raise Conflict(
            "This recording was transcribed already; upload a new one to transcribe again.",
            code="transcription-done",
        )
    if current and visit.transcription_status in QUEUED:
        return None
    visit.transcription_audio_key = visit.audio.key
    visit.transcription_attempts = 0
    visit.transcription_error = None
    return _queue(visit)


def _queue(visit: Visit) -> VisitTranscriptionRequested:
    assert visit.audio is not None
    visit.transcription_status = TranscriptionStatus.PENDING
    return VisitTranscriptionRequested(
        visit_id=visit.id,
        pet_id=visit.pet_id,
        practice_id=visit.practice_id,
        audio_key=visit.audio.key,
    )


def wants_transcription(visit: Visit | None, audio_key: str) -> bool:
    """Whether the worker should (still) transcribe ``audio_key`` for this visit: the
    recording is still the visit's, and it is queued (not done, failed or superseded)."""
    return (
        visit is not None
        and visit.audio is not None
        and visit.audio.key == audio_key
        and visit.transcription_audio_key == audio_key
        and visit.transcription_status in QUEUED
    )
