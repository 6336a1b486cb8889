"""The speech-to-text seam without an engine: transcripts, Bandwidth's length rules, the known
text transcriber and how long recordings are cut into utterances."""

from __future__ import annotations

import array
import math

import pytest

from switchboard.speech.stt import (
    CUT_WINDOW_SECONDS,
    PIECE_SECONDS,
    KnownTextTranscriber,
    Transcriber,
    Transcript,
    transcribable,
    utterances,
)


@pytest.mark.parametrize(
    ("seconds", "status"),
    [
        (0.0, "file-size-too-small"),
        (0.5, "file-size-too-small"),  # "greater than 500 milliseconds"
        (0.501, None),
        (60.0, None),
        (4 * 3600 - 0.001, None),
        (4 * 3600, "file-size-too-big"),  # "less than 4 hours"
        (5 * 3600, "file-size-too-big"),
    ],
)
def test_transcribable_follows_bandwidths_bounds(seconds: float, status: str | None) -> None:
    assert transcribable(seconds) == status


@pytest.mark.parametrize("confidence", [-0.01, 1.01, math.nan])
def test_transcript_confidence_is_within_zero_and_one(confidence: float) -> None:
    with pytest.raises(ValueError, match="confidence"):
        Transcript("hello", confidence)


def test_known_text_transcriber_returns_its_text_whatever_the_audio() -> None:
    transcriber: Transcriber = KnownTextTranscriber("Hi, this is Ann. Call me back!")
    tone = array.array("h", [round(8000 * math.sin(n / 3)) for n in range(8000)]).tobytes()
    for pcm in (b"", bytes(16000), tone):
        assert transcriber.transcribe(pcm) == Transcript("Hi, this is Ann. Call me back!", 1.0)
    assert transcriber.transcribe(tone, sample_rate=16000).text == "Hi, this is Ann. Call me back!"


def _tone(seconds: float, rate: int = 8000) -> array.array[int]:
    return array.array(
        "h",
        [round(6000 * math.sin(2 * math.pi * 440 * n / rate)) for n in range(int(seconds * rate))],
    )


def test_a_short_recording_is_one_utterance() -> None:
    pcm = _tone(PIECE_SECONDS).tobytes()
    assert list(utterances(pcm, 8000)) == [pcm]
    assert list(utterances(pcm + b"\x01", 8000)) == [pcm]  # an odd trailing byte is dropped


def test_a_long_recording_is_cut_in_its_pauses() -> None:
    # 70 s of tone with a 200 ms pause at 25 s and at 48 s: the cuts fall inside the pauses
    # (each within the last CUT_WINDOW_SECONDS before a PIECE_SECONDS limit), not at 30 s.
    rate = 8000
    assert PIECE_SECONDS - CUT_WINDOW_SECONDS < 25 < PIECE_SECONDS
    samples = _tone(70)
    pauses = [(25.0, 25.2), (48.0, 48.2)]
    for start, end in pauses:
        samples[int(start * rate) : int(end * rate)] = array.array(
            "h", bytes(int((end - start) * rate) * 2)
        )
    pcm = samples.tobytes()
    pieces = list(utterances(pcm, rate))
    assert b"".join(pieces) == pcm
    assert all(len(piece) <= 2 * rate * PIECE_SECONDS for piece in pieces)
    cuts = [sum(len(piece) for piece in pieces[: i + 1]) / 2 / rate for i in range(len(pieces) - 1)]
    assert len(cuts) == 2
    for cut, (start, end) in zip(cuts, pauses, strict=True):
        assert start <= cut <= end
