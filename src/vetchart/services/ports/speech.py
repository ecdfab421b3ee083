"""Speech to text: a visit's recording in, its transcript (with segments, duration and
the model that made it) out.

Adapters: OpenAI's ``POST /audio/transcriptions`` (adapters/ai/openai_transcription.py),
PocketSphinx with the en-US model its wheel ships (adapters/ai/local_transcription.py,
the ``stt-local`` extra), and ``NoTranscriber`` when neither is configured: it reports
``configured = False`` and the visit keeps the transcript its client supplies.

Failures: ``ServiceUnavailable`` (services/ports/ai.py) for an outside service that is
down or slow (``retryable`` tells whether trying later may help), ``TranscriptionRejected``
for a recording that will never transcribe (unsupported format, too long, refused).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from vetchart.domain.errors import RuleViolation


@dataclass(frozen=True)
class TranscriptSegment:
    """A stretch of the recording: seconds from its start, and what was said."""

    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Transcript:
    text: str
    segments: tuple[TranscriptSegment, ...]
    duration_seconds: float | None
    # Which adapter and model made it (provenance kept on the visit).
    adapter: str
    model: str
    language: str | None = None


class TranscriptionRejected(RuleViolation):
    """The recording cannot be transcribed by this adapter, now or later."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, rule="transcription.rejected")
        self.reason = reason


class SpeechToText(Protocol):
    @property
    def name(self) -> str:
        """``openai``, ``local`` or ``none``: stored as the transcript's source."""
        ...

    @property
    def configured(self) -> bool:
        """False for ``NoTranscriber``: nothing can be transcribed here."""
        ...

    async def transcribe(
        self, audio: bytes, content_type: str, language: str | None = None
    ) -> Transcript:
        """The transcript of ``audio`` (``content_type`` as judged by content on upload;
        ``language`` an ISO 639-1 hint such as ``en``, or None to let the model tell)."""
        ...


class NoTranscriber:
    """No speech-to-text service is configured (``VETCHART_STT_PROVIDER=none``)."""

    name = "none"
    configured = False

    async def transcribe(
        self, audio: bytes, content_type: str, language: str | None = None
    ) -> Transcript:
        raise TranscriptionRejected("No speech-to-text service is configured.")
