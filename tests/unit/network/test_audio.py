"""Audio durations from file headers."""

from __future__ import annotations

import io
import wave

import pytest

from switchboard.network.audio import AudioError, duration_of, mp3_duration, wav_duration


def make_wav(seconds: float, rate: int = 8000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(b"\0\0" * int(seconds * rate))
    return buffer.getvalue()


def test_wav_duration_is_exact() -> None:
    assert wav_duration(make_wav(3.0)) == pytest.approx(3.0)
    assert duration_of(make_wav(1.5, 16000), 0, "x.wav") == pytest.approx(1.5)


def test_mp3_duration_from_bitrate() -> None:
    frame_header = bytes([0xFF, 0xFB, 0x90, 0x00])  # MPEG-1 layer III, 128 kbps
    data = frame_header + b"\0" * 100
    assert mp3_duration(data, 160_000) == pytest.approx(10.0)


@pytest.mark.parametrize("data", [b"OggS\0\0\0\0", b"<html>not audio</html>", b""])
def test_other_formats_are_unsupported(data: bytes) -> None:
    with pytest.raises(AudioError, match="unsupported audio format"):
        duration_of(data, len(data), "http://x/a.ogg")


def test_truncated_wav_is_an_error() -> None:
    with pytest.raises(AudioError):
        wav_duration(make_wav(1.0)[:20])
