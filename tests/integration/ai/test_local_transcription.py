"""The offline transcriber for real: PocketSphinx with the en-US model its wheel ships,
on a recording made with espeak-ng ("one two three four five", tests/fixtures/audio),
decoded by soundfile and resampled by soxr. No network, no stand-in."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile
import soxr

from vetchart.adapters.ai.local_transcription import MODEL, LocalTranscriber
from vetchart.services.ports.speech import SpeechToText, TranscriptionRejected

RECORDING = Path(__file__).parents[2] / "fixtures" / "audio" / "one-to-five.flac"
# Words the model hears in the recording (it hears "well" for the first "one").
HEARD = {"two", "three", "four", "five"}


@pytest.fixture(scope="module")
def transcriber() -> LocalTranscriber:
    return LocalTranscriber(max_duration_seconds=60)


def _encoded(samples: np.ndarray, rate: int, fmt: str) -> bytes:
    out = io.BytesIO()
    soundfile.write(out, samples, rate, format=fmt)
    return out.getvalue()


async def test_a_flac_recording_is_transcribed_with_segments_and_duration(
    transcriber: LocalTranscriber,
) -> None:
    port: SpeechToText = transcriber
    transcript = await port.transcribe(RECORDING.read_bytes(), "audio/flac", "en")
    words = transcript.text.split()
    assert set(words) >= HEARD, transcript.text
    assert words[-4:] == ["two", "three", "four", "five"]
    assert (transcript.adapter, transcript.model, transcript.language) == ("local", MODEL, "en")
    assert transcript.duration_seconds == pytest.approx(1.9, abs=0.05)
    [segment] = transcript.segments  # no long pause: one segment
    assert segment.text == transcript.text
    assert 0 <= segment.start < 0.5 < 1.0 < segment.end <= transcript.duration_seconds


async def test_stereo_wav_at_another_rate_is_mixed_down_and_resampled(
    transcriber: LocalTranscriber,
) -> None:
    mono, rate = soundfile.read(RECORDING)
    stereo = np.stack([soxr.resample(mono, rate, 44_100)] * 2, axis=1)
    transcript = await transcriber.transcribe(_encoded(stereo, 44_100, "WAV"), "audio/wav")
    assert set(transcript.text.split()) >= HEARD, transcript.text


async def test_pauses_split_segments(transcriber: LocalTranscriber) -> None:
    mono, rate = soundfile.read(RECORDING)
    pause = np.zeros(int(rate * 1.5))
    twice = np.concatenate([mono, pause, mono])
    transcript = await transcriber.transcribe(_encoded(twice, rate, "FLAC"), "audio/flac")
    assert len(transcript.segments) == 2, transcript.segments
    first, second = transcript.segments
    assert first.end + 0.5 <= second.start
    assert set(second.text.split()) >= HEARD


async def test_silence_is_no_speech(transcriber: LocalTranscriber) -> None:
    silence = np.zeros(16_000)
    transcript = await transcriber.transcribe(_encoded(silence, 16_000, "WAV"), "audio/wav")
    assert (transcript.text, transcript.segments) == ("", ())
    assert transcript.duration_seconds == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("audio", "content_type", "language", "reason"),
    [
        (b"RIFF\x00\x00\x00\x00WAVEjunk", "audio/wav", None, "could not be decoded"),
        (b"\x1aE\xdf\xa3webm", "audio/webm", None, "not audio/webm"),
        (RECORDING.read_bytes(), "audio/flac", "fr", "English only"),
    ],
    ids=["undecodable", "webm", "french"],
)
async def test_recordings_it_cannot_read_are_refused(
    transcriber: LocalTranscriber,
    audio: bytes,
    content_type: str,
    language: str | None,
    reason: str,
) -> None:
    with pytest.raises(TranscriptionRejected, match=reason):
        await transcriber.transcribe(audio, content_type, language)


async def test_a_recording_over_the_duration_limit_is_refused_before_decoding() -> None:
    short = LocalTranscriber(max_duration_seconds=1.0)
    with pytest.raises(TranscriptionRejected, match="at most 1 s"):
        await short.transcribe(RECORDING.read_bytes(), "audio/flac")
