"""PocketSphinx transcribes real speech: espeak-ng phrases rendered at 8 kHz as SpeakSentence
sends them on SIP (switchboard.media.tts), recognised offline with the wheel's own model.

PocketSphinx is weak on espeak-ng's synthetic telephone-band speech (bench/transcription.py:
about 85 % word error rate over ten everyday phrases, docs/benchmarks.md), so these phrases are
ones it was measured to get mostly right (11 of their 16 words); the test guards the pipeline
(8 kHz in, upsampling, decoding, confidence) against getting worse, not the engine's quality.
"""

from __future__ import annotations

import asyncio
import re
import shutil

import pytest

from switchboard.media.tts import synthesize
from switchboard.speech.stt import PocketSphinxTranscriber, Transcript

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed"),
]

# (text, espeak-ng voice gender) -> measured transcript:
#   "my name is john", "i'm running late for dinner", "the three o'clock"
PHRASES = (
    ("My name is John.", "female"),
    ("I am running late for dinner.", "male"),
    ("The meeting is at three o'clock.", "male"),
)
MEASURED_RECALL = 11 / 16
RECALL_FLOOR = 0.6


def words(text: str) -> set[str]:
    return set(re.sub(r"[^a-z' ]", " ", text.lower()).split())


@pytest.fixture(scope="module")
def transcriber() -> PocketSphinxTranscriber:
    return PocketSphinxTranscriber()


async def test_pocketsphinx_recognises_most_words_of_telephone_speech(
    transcriber: PocketSphinxTranscriber,
) -> None:
    transcripts: list[Transcript] = []
    for text, gender in PHRASES:
        pcm = await synthesize(text, gender=gender)  # 8 kHz, as the SIP network plays it
        # Blocking: callers run it in a thread, as here.
        transcripts.append(await asyncio.to_thread(transcriber.transcribe, pcm, 8000))

    references = [words(text) for text, _ in PHRASES]
    found = sum(
        len(reference & words(transcript.text))
        for reference, transcript in zip(references, transcripts, strict=True)
    )
    recall = found / sum(len(reference) for reference in references)
    assert recall >= RECALL_FLOOR, (recall, [t.text for t in transcripts])
    for index, transcript in enumerate(transcripts):
        assert 0.0 < transcript.confidence <= 1.0
        # Each transcript is of its own phrase: it shares more words with it than with any other.
        own = len(references[index] & words(transcript.text))
        others = [
            len(reference & words(transcript.text))
            for other, reference in enumerate(references)
            if other != index
        ]
        assert own > max(others), (PHRASES[index][0], transcript.text)


async def test_pocketsphinx_transcripts_do_not_depend_on_what_came_before(
    transcriber: PocketSphinxTranscriber,
) -> None:
    first = await synthesize(PHRASES[0][0], gender=PHRASES[0][1])
    other = await synthesize("Please leave a message after the tone.")
    before = transcriber.transcribe(first)
    transcriber.transcribe(other)
    assert transcriber.transcribe(first) == before


def test_pocketsphinx_hears_nothing_in_silence(transcriber: PocketSphinxTranscriber) -> None:
    # Digital silence, as the simulated network records between words, and no audio at all.
    assert transcriber.transcribe(bytes(2 * 8000 * 3)) == Transcript("", 0.0)
    assert transcriber.transcribe(b"") == Transcript("", 0.0)
