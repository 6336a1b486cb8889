"""Audio files for PlayAudio → PCM16 8 kHz mono.

Bandwidth plays WAV and MP3 and ends the call with `application-error` on anything else, so the
format is sniffed from the bytes (servers often send a generic or wrong Content-Type) and only
those two are decoded, although miniaudio could also decode FLAC and Ogg Vorbis. WAV may be any
PCM width, float, µ-law, A-law or IMA ADPCM, at any rate and channel count (dr_wav inside
miniaudio); MP3 goes through dr_mp3. Channels are mixed down by miniaudio; resampling uses our
band-limiting resampler (see resample.py).
"""

from __future__ import annotations

import array
import sys

import miniaudio

from switchboard.media.resample import to_8k

MAX_SECONDS = 3600.0


class UnsupportedAudio(ValueError):
    """The audio can't be played; the message names what it is, for the developer."""


def sniff(data: bytes) -> str:
    """A short name of the format of `data`: "wav", "mp3", or what else it looks like."""
    head = data[:16]
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:3] == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE6 == 0xE2):
        return "mp3"  # an ID3v2 tag, or an MPEG audio Layer III frame sync
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] in (b"FORM",):
        return "aiff"
    if head[4:8] == b"ftyp":
        return "mp4/m4a"
    if head[:4] == b".snd":
        return "au"
    stripped = data[:512].lstrip().lower()
    if stripped.startswith((b"<!doctype html", b"<html")):
        return "html"
    if stripped.startswith((b"<?xml", b"<")):
        return "xml"
    if not data:
        return "empty"
    return "unknown"


def decode_audio(data: bytes, content_type: str | None = None) -> bytes:
    """WAV or MP3 bytes → PCM16 8 kHz mono. `content_type` only improves the error message."""
    kind = sniff(data)
    described = f"{kind} ({content_type})" if content_type else kind
    if kind not in ("wav", "mp3"):
        raise UnsupportedAudio(f"unsupported audio format: {described}; WAV and MP3 are supported")
    try:
        info = miniaudio.wav_get_info(data) if kind == "wav" else miniaudio.mp3_get_info(data)
    except miniaudio.MiniaudioError:
        raise UnsupportedAudio(f"could not read the {kind} audio header ({described})") from None
    if info.sample_rate <= 0 or info.nchannels <= 0:
        raise UnsupportedAudio(f"{kind} audio has no sample rate or channels")
    if info.duration > MAX_SECONDS:
        raise UnsupportedAudio(
            f"{kind} audio is {info.duration:.0f} s long; at most {MAX_SECONDS:.0f} s is played"
        )
    try:
        decoded = miniaudio.decode(
            data,
            output_format=miniaudio.SampleFormat.SIGNED16,
            nchannels=1,
            sample_rate=info.sample_rate,
        )
    except miniaudio.MiniaudioError:
        raise UnsupportedAudio(f"could not decode the {kind} audio ({described})") from None
    samples: array.array[int] = decoded.samples
    if sys.byteorder == "big":  # pragma: no cover - PCM16 here is little-endian
        samples.byteswap()
    return to_8k(samples.tobytes(), info.sample_rate)
