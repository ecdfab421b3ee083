"""The speech-to-text adapter a process uses, from ``VETCHART_STT_*``: none, OpenAI (the
key and, unless ``VETCHART_STT_BASE_URL`` is set, the base URL of the OpenAI settings;
the OpenAI circuit breaker shared with chat and embeddings) or the local PocketSphinx."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from vetchart.adapters.ai.breaker import CircuitBreakers
from vetchart.adapters.ai.wiring import OPENAI, openai_retry, service_breaker
from vetchart.config import AiSettings, ConfigurationError, SttSettings
from vetchart.services.ports.speech import NoTranscriber, SpeechToText


@dataclass
class SpeechAdapters:
    transcriber: SpeechToText = field(default_factory=NoTranscriber)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def aclose(self) -> None:
        for close in self.closers:
            await close()


def build_transcriber(
    stt: SttSettings, ai: AiSettings, breakers: CircuitBreakers
) -> SpeechAdapters:
    if stt.provider == "local":
        from vetchart.adapters.ai.local_transcription import LocalTranscriber

        try:
            return SpeechAdapters(LocalTranscriber(max_duration_seconds=stt.max_duration_seconds))
        except RuntimeError as error:
            raise ConfigurationError(str(error)) from None
    if stt.provider == "openai":
        if not ai.openai_enabled or ai.openai_api_key is None:
            raise ConfigurationError("VETCHART_STT_PROVIDER=openai needs OPENAI_API_KEY")
        from vetchart.adapters.ai.openai_adapter import build_openai_client
        from vetchart.adapters.ai.openai_transcription import OpenAITranscriber

        client = build_openai_client(
            api_key=ai.openai_api_key.get_secret_value(),
            base_url=stt.base_url or ai.openai_base_url,
            timeout_seconds=stt.timeout_seconds,
        )
        transcriber = OpenAITranscriber(
            client,
            model=stt.model,
            breaker=service_breaker(breakers, OPENAI, ai),
            retry=openai_retry(ai, stt.max_attempts),
            timeout_seconds=stt.timeout_seconds,
        )
        return SpeechAdapters(transcriber, [client.close])
    return SpeechAdapters()
