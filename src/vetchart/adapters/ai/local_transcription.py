"""The ``SpeechToText`` port offline: PocketSphinx with the US-English acoustic model,
language model and dictionary that its wheel ships (nothing is downloaded at run time).

Installed with the ``stt-local`` extra (``pip install 'vetchart[stt-local]'``):
``pocketsphinx`` (the recogniser and its model), ``soundfile`` (libsndfile, bundled in
its wheel: WAV, FLAC, Ogg and MP3; not WebM or M4A) and ``soxr`` (resampling to the
model's 16 kHz). The recording is decoded to 16-bit mono PCM at 16 kHz and recognised
in a worker thread, one recording at a time per process (the decoder is CPU-bound and
not thread-safe). English only; its accuracy is far below Whisper's: a transcript to
check, as every machine transcript is.
"""

from __future__ import annotations

import asyncio
import io
import threading
from typing import TYPE_CHECKING, Any, Final

from vetchart.services.ports.speech import Transcript, TranscriptionRejected, TranscriptSegment

if TYPE_CHECKING:
    from pocketsphinx import Decoder

NAME: Final = "local"
MODEL: Final = "pocketsphinx-en-us"
SAMPLE_RATE: Final = 16_000
# PocketSphinx reports times in frames of 10 ms.
FRAMES_PER_SECOND: Final = 100
# Half a second of silence around the speech helps the recogniser find its edges.
PADDING_SAMPLES: Final = SAMPLE_RATE // 2
# Words of the recogniser's own that are not speech: silence, noise, sentence marks.
_FILLERS: Final = frozenset({"<s>", "</s>", "<sil>", "[SPEECH]", "[NOISE]"})
_LANGUAGES: Final = frozenset({"en", "en-us", "en_us"})
_FORMATS: Final = frozenset({"audio/wav", "audio/x-wav", "audio/flac", "audio/ogg", "audio/mpeg"})
# A recording whose loudest sample stays below this (of full scale) holds no speech.
SILENCE_PEAK: Final = 0.01
# A pause at least this long (in frames) starts a new segment.
SEGMENT_PAUSE_FRAMES: Final = 50


def local_transcription_available() -> bool:
    """True when the ``stt-local`` extra is installed (its modules import)."""
    try:
        import pocketsphinx  # noqa: F401
        import soundfile  # noqa: F401
        import soxr  # noqa: F401
    except ImportError:
        return False
    return True


class LocalTranscriber:
    name = NAME
    configured = True

    def __init__(self, *, max_duration_seconds: float) -> None:
        if not local_transcription_available():
            raise RuntimeError(
                "VETCHART_STT_PROVIDER=local needs the stt-local extra "
                "(pip install 'vetchart[stt-local]')"
            )
        self._max_duration = max_duration_seconds
        self._decoder: Decoder | None = None
        self._lock = threading.Lock()

    async def transcribe(
        self, audio: bytes, content_type: str, language: str | None = None
    ) -> Transcript:
        if language and language.lower() not in _LANGUAGES:
            raise TranscriptionRejected(
                f"The local transcriber knows English only, not {language!r}."
            )
        if content_type.split(";")[0].strip().lower() not in _FORMATS:
            raise TranscriptionRejected(
                f"The local transcriber reads WAV, FLAC, Ogg and MP3, not {content_type}."
            )
        return await asyncio.to_thread(self._transcribe, audio)

    def _transcribe(self, audio: bytes) -> Transcript:
        pcm, duration = self._pcm(audio)
        if not pcm:  # silence: the recogniser would still guess a word or two
            return Transcript("", (), round(duration, 3), NAME, MODEL, "en")
        with self._lock:
            decoder = self._decoder_once()
            decoder.start_utt()
            decoder.process_raw(pcm, full_utt=True)
            decoder.end_utt()
            words = [
                (segment.word, segment.start_frame, segment.end_frame) for segment in decoder.seg()
            ]
        return Transcript(
            text=" ".join(word for word, _, _ in _spoken(words)),
            segments=_segments(_spoken(words)),
            duration_seconds=round(duration, 3),
            adapter=NAME,
            model=MODEL,
            language="en",
        )

    def _pcm(self, audio: bytes) -> tuple[bytes, float]:
        """16-bit mono PCM at 16 kHz, padded with silence, and the recording's length."""
        import numpy as np
        import soundfile
        import soxr

        try:
            info = soundfile.info(io.BytesIO(audio))
        except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
            raise TranscriptionRejected("The recording could not be decoded.") from error
        if info.duration > self._max_duration:
            raise TranscriptionRejected(
                f"The recording lasts {info.duration:.0f} s; the local transcriber takes "
                f"at most {self._max_duration:.0f} s."
            )
        try:
            samples, rate = soundfile.read(io.BytesIO(audio), dtype="float32", always_2d=True)
        except (soundfile.LibsndfileError, RuntimeError) as error:
            raise TranscriptionRejected("The recording could not be decoded.") from error
        mono: Any = samples.mean(axis=1)
        if rate != SAMPLE_RATE:
            mono = soxr.resample(mono, rate, SAMPLE_RATE)
        if not mono.size or float(np.max(np.abs(mono))) < SILENCE_PEAK:
            return b"", float(info.duration)
        pcm = (np.clip(mono, -1.0, 1.0) * 32767).astype("<i2")
        silence = np.zeros(PADDING_SAMPLES, dtype="<i2")
        return np.concatenate([silence, pcm, silence]).tobytes(), float(info.duration)

    def _decoder_once(self) -> Decoder:
        if self._decoder is None:
            from pocketsphinx import Decoder

            # The defaults are the en-US model inside the pocketsphinx package.
            self._decoder = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")
        return self._decoder


def _spoken(words: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """Words only (no silences or noises), without the dictionary's variant marks
    (``the(2)`` is ``the``), times shifted back by the padding."""
    shift = PADDING_SAMPLES * FRAMES_PER_SECOND // SAMPLE_RATE
    return [
        (word.split("(")[0], max(0, start - shift), max(0, end - shift))
        for word, start, end in words
        if word not in _FILLERS and not word.startswith(("++", "["))
    ]


def _segments(words: list[tuple[str, int, int]]) -> tuple[TranscriptSegment, ...]:
    """Words joined into segments, split at pauses of ``SEGMENT_PAUSE_FRAMES`` or more."""
    groups: list[list[tuple[str, int, int]]] = []
    for word in words:
        if groups and word[1] - groups[-1][-1][2] < SEGMENT_PAUSE_FRAMES:
            groups[-1].append(word)
        else:
            groups.append([word])
    return tuple(
        TranscriptSegment(
            start=group[0][1] / FRAMES_PER_SECOND,
            end=group[-1][2] / FRAMES_PER_SECOND,
            text=" ".join(word for word, _, _ in group),
        )
        for group in groups
    )
