"""The ``SpeechToText`` port on OpenAI's ``POST {base_url}/audio/transcriptions``
(multipart: the recording as ``file``, ``model``, optional ``language``), over the
official ``AsyncOpenAI`` client, so any OpenAI-compatible server works through
``base_url``.

``whisper-1`` is asked for ``verbose_json`` (segments with times, the duration and the
language it heard); the ``gpt-4o-*transcribe`` models answer ``json`` only (the text),
so their transcripts carry no segments and no duration. Every call goes through
``resilient()`` (adapters/ai/breaker.py) with the OpenAI breaker shared with chat and
embeddings, a per-call timeout, bounded retries on retryable errors only; a 4xx other
than 408/409/429 is the recording refused (``TranscriptionRejected``). Nothing here
logs what was said.
"""

from __future__ import annotations

from typing import Final

import openai
from openai import AsyncOpenAI, omit
from openai.types.audio import Transcription, TranscriptionVerbose

from vetchart.adapters.ai.breaker import CircuitBreaker, RetryPolicy
from vetchart.adapters.ai.openai_adapter import OpenAICaller
from vetchart.services.ports.ai import ServiceUnavailable
from vetchart.services.ports.speech import Transcript, TranscriptionRejected, TranscriptSegment

SERVICE: Final = "openai"
DEFAULT_MODEL: Final = "whisper-1"
DEFAULT_TIMEOUT_SECONDS: Final = 120.0
# Models that answer verbose_json (segments, duration); others answer json.
_VERBOSE_MODELS: Final = ("whisper",)

# The name a recording is sent under, by its type (the service judges the format by it).
_EXTENSIONS: Final = {
    "audio/mpeg": "mp3",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/ogg": "ogg",
    "audio/webm": "webm",
    "audio/mp4": "m4a",
    "audio/x-m4a": "m4a",
    "audio/flac": "flac",
}


class OpenAITranscriber(OpenAICaller):
    def __init__(
        self,
        client: AsyncOpenAI,
        *,
        model: str = DEFAULT_MODEL,
        breaker: CircuitBreaker,
        retry: RetryPolicy | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        super().__init__(client, breaker=breaker, retry=retry, timeout_seconds=timeout_seconds)
        self._model = model

    name = SERVICE
    configured = True

    @property
    def model(self) -> str:
        return self._model

    @property
    def verbose(self) -> bool:
        return self._model.startswith(_VERBOSE_MODELS)

    async def transcribe(
        self, audio: bytes, content_type: str, language: str | None = None
    ) -> Transcript:
        if not audio:
            raise TranscriptionRejected("The recording is empty.")
        extension = _EXTENSIONS.get(content_type.split(";")[0].strip().lower())
        if extension is None:
            raise TranscriptionRejected(f"{content_type} recordings cannot be transcribed.")
        verbose = self.verbose

        async def call() -> Transcription | TranscriptionVerbose:
            if verbose:
                return await self._client.audio.transcriptions.create(
                    file=(f"recording.{extension}", audio, content_type),
                    model=self._model,
                    language=language or omit,
                    response_format="verbose_json",
                    timestamp_granularities=["segment"],
                    timeout=self._timeout,
                )
            return await self._client.audio.transcriptions.create(
                file=(f"recording.{extension}", audio, content_type),
                model=self._model,
                language=language or omit,
                response_format="json",
                timeout=self._timeout,
            )

        try:
            result = await self._call("audio.transcriptions", call)
        except ServiceUnavailable as error:
            cause = error.__cause__
            status = cause.status_code if isinstance(cause, openai.APIStatusError) else None
            if status is not None and not error.retryable and status not in (401, 403):
                raise TranscriptionRejected(
                    f"The {SERVICE} service refused the recording (HTTP {status})."
                ) from error
            raise
        return self._transcript(result, language)

    def _transcript(
        self, result: Transcription | TranscriptionVerbose, language: str | None
    ) -> Transcript:
        text = (result.text or "").strip()
        if isinstance(result, TranscriptionVerbose):
            segments = tuple(
                TranscriptSegment(start=s.start, end=s.end, text=s.text.strip())
                for s in result.segments or ()
            )
            return Transcript(
                text=text,
                segments=segments,
                duration_seconds=result.duration,
                adapter=SERVICE,
                model=self._model,
                language=result.language or language,
            )
        return Transcript(
            text=text,
            segments=(),
            duration_seconds=None,
            adapter=SERVICE,
            model=self._model,
            language=language,
        )
