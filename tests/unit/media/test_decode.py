"""Decoding PlayAudio files (WAV variants, MP3) to PCM16 8 kHz, and what is refused."""

from __future__ import annotations

import array
import math
import struct

import pytest

from switchboard.media import g711
from switchboard.media.decode import MAX_SECONDS, UnsupportedAudio, decode_audio, sniff


def sine(frequency: float, rate: int, seconds: float, amplitude: float = 0.3) -> list[float]:
    return [
        amplitude * math.sin(2 * math.pi * frequency * n / rate)
        for n in range(round(rate * seconds))
    ]


def wav(format_tag: int, rate: int, channels: int, bits: int, frames: bytes) -> bytes:
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", format_tag, channels, rate, rate * block, block, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(frames)) + frames + b"\0" * (len(frames) & 1)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def pcm16(values: list[float]) -> bytes:
    return array.array("h", [round(v * 32767) for v in values]).tobytes()


def power_at(pcm: bytes, frequency: float) -> float:
    samples = array.array("h", pcm)
    real = sum(s * math.cos(2 * math.pi * frequency * n / 8000) for n, s in enumerate(samples))
    imaginary = sum(s * math.sin(2 * math.pi * frequency * n / 8000) for n, s in enumerate(samples))
    return (real * real + imaginary * imaginary) / len(samples) ** 2


def rms(pcm: bytes) -> float:
    samples = array.array("h", pcm)
    return math.sqrt(sum(s * s for s in samples) / len(samples))


def is_1khz_tone(pcm: bytes, seconds: float) -> bool:
    samples = len(pcm) // 2
    near_1k = power_at(pcm, 1000)
    return (
        abs(samples - 8000 * seconds) <= 2
        and near_1k > 100 * max(power_at(pcm, 800), power_at(pcm, 1200), power_at(pcm, 2000))
        and rms(pcm) > 0.2 * 32767 * 0.7
    )


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050, 44100, 48000])
def test_pcm16_wav_any_rate(rate: int) -> None:
    assert is_1khz_tone(
        decode_audio(wav(1, rate, 1, 16, pcm16(sine(1000, rate, 0.5))), "audio/wav"), 0.5
    )


def test_stereo_8_bit_wav() -> None:
    mono = [round(128 + 127 * v) for v in sine(1000, 22050, 0.5)]
    frames = bytes(value for sample in mono for value in (sample, sample))
    assert is_1khz_tone(decode_audio(wav(1, 22050, 2, 8, frames), "audio/x-wav"), 0.5)


def test_24_bit_and_float_wav() -> None:
    values = sine(1000, 16000, 0.5)
    pcm24 = b"".join(round(v * 8388607).to_bytes(3, "little", signed=True) for v in values)
    assert is_1khz_tone(decode_audio(wav(1, 16000, 1, 24, pcm24), None), 0.5)
    floats = struct.pack(f"<{len(values)}f", *values)
    assert is_1khz_tone(decode_audio(wav(3, 16000, 1, 32, floats), None), 0.5)


@pytest.mark.parametrize(("tag", "encode"), [(7, g711.ulaw_encode), (6, g711.alaw_encode)])
def test_g711_wav(tag: int, encode) -> None:  # type: ignore[no-untyped-def]
    assert is_1khz_tone(
        decode_audio(wav(tag, 8000, 1, 8, encode(pcm16(sine(1000, 8000, 0.5)))), None), 0.5
    )


def silent_mp3(frames: int) -> bytes:
    # MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, mono; zero side information and main data decode
    # to silence. (No MP3 encoder is available to the tests, so the content is silence.)
    return (b"\xff\xfb\x90\xc0" + bytes(417 - 4)) * frames


def test_mp3_with_and_without_id3_tag() -> None:
    pcm = decode_audio(silent_mp3(100), "audio/mpeg")
    assert abs(len(pcm) // 2 - round(100 * 1152 / 44100 * 8000)) <= 2
    assert max(pcm) == 0
    tagged = b"ID3\x03\x00\x00\x00\x00\x00\x0a" + bytes(10) + silent_mp3(10)
    assert abs(len(decode_audio(tagged, None)) // 2 - round(10 * 1152 / 44100 * 8000)) <= 2


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"OggS\x00\x02" + bytes(100), "ogg"),
        (b"fLaC\x00\x00\x00\x22" + bytes(100), "flac"),
        (b"<!DOCTYPE html><html><body>Not found</body></html>", "html"),
        (b"hello, this is text", "unknown"),
        (b"", "empty"),
        (bytes(range(256)) * 4, "unknown"),
    ],
)
def test_other_formats_are_refused_by_name(data: bytes, name: str) -> None:
    with pytest.raises(UnsupportedAudio, match=f"unsupported audio format: {name}"):
        decode_audio(data, "audio/whatever")


def test_broken_wav_and_mp3_are_refused() -> None:
    with pytest.raises(UnsupportedAudio, match="wav"):
        decode_audio(b"RIFF\x10\x00\x00\x00WAVEjunkjunk", None)
    with pytest.raises(UnsupportedAudio, match="mp3"):
        decode_audio(b"ID3\x03\x00\x00\x00\x00\x00\x00garbage", None)


def test_too_long_audio_is_refused_before_decoding() -> None:
    # Just over an hour of 8 kHz µ-law (29 MB): refused from its header, without decoding.
    data = wav(7, 8000, 1, 8, bytes([0xFF]) * int((MAX_SECONDS + 10) * 8000))
    with pytest.raises(UnsupportedAudio, match="3610 s long"):
        decode_audio(data, None)


def test_sniff() -> None:
    assert sniff(wav(1, 8000, 1, 16, b"")) == "wav"
    assert sniff(silent_mp3(1)) == "mp3"
