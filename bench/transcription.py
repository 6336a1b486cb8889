"""Speech-to-text accuracy and CPU cost of PocketSphinxTranscriber (issue 13).

    .venv/bin/python bench/transcription.py [--cpu 1] [--check]

Ten short phrases, as a voicemail caller might say them, are synthesised by espeak-ng through
switchboard.media.tts (8 kHz PCM, exactly what SpeakSentence sends on SIP) in both of its
English voices (female, the default, and male), and transcribed one at a time at 8 kHz by
switchboard.speech.stt.PocketSphinxTranscriber. Printed: each reference and hypothesis with its
confidence; the word error rate per voice ((substitutions + deletions + insertions) / reference
words, after lower-casing and dropping punctuation); and the CPU seconds (this process's user
+ system time, pinned to --cpu) per second of audio, for the short phrases and for one
recording of all twenty back to back with a second of silence between (over 30 s: the
long-recording path, cut into utterances). Model load time is printed separately, not in the rate.
Target (--check exits 1 when it fails): faster than real time on one core, i.e. under
1 CPU second per second of audio.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import time

from common import BenchError, print_checks, progress
from switchboard.media.tts import synthesize
from switchboard.speech.stt import PocketSphinxTranscriber

RATE = 8000
PHRASES = (
    "Hello, this is Ann.",
    "Please call me back tomorrow morning.",
    "My phone number is five five five, one two one two.",
    "I would like to check my account balance.",
    "The meeting is at three o'clock.",
    "Thank you for calling, goodbye.",
    "Can you send me the report today?",
    "I am running late for dinner.",
    "Yes, that works for me.",
    "Please leave a message after the tone.",
)
VOICES = ("female", "male")
TARGET_CPU_PER_AUDIO_SECOND = 1.0


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z' ]", " ", text.lower()).split()


def edit_distance(reference: list[str], hypothesis: list[str]) -> int:
    """Word-level Levenshtein distance: substitutions + deletions + insertions."""
    previous = list(range(len(hypothesis) + 1))
    for i, word in enumerate(reference, 1):
        current = [i]
        for j, other in enumerate(hypothesis, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != other))
            )
        previous = current
    return previous[-1]


def cpu_seconds() -> float:
    return time.process_time()


async def render(voice: str) -> list[bytes]:
    return [await synthesize(phrase, gender=voice) for phrase in PHRASES]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu", type=int, default=1, help="core to pin this process to (1)")
    parser.add_argument(
        "--check", action="store_true", help="exit with status 1 when a target fails"
    )
    args = parser.parse_args()
    try:
        os.sched_setaffinity(0, {args.cpu})
    except OSError as error:
        raise BenchError(f"cannot pin to core {args.cpu}: {error}") from None

    progress("synthesising the phrases with espeak-ng")
    rendered = {voice: asyncio.run(render(voice)) for voice in VOICES}
    started = cpu_seconds()
    transcriber = PocketSphinxTranscriber()
    load = cpu_seconds() - started
    transcriber.transcribe(rendered["female"][0], RATE)  # warm-up, not measured

    total_cpu = total_audio = 0.0
    results: list[tuple[str, int, int, float]] = []  # voice, errors, reference words, confidence
    for voice in VOICES:
        errors = reference_words = 0
        confidence = 0.0
        print(f"voice {voice}:")
        for phrase, pcm in zip(PHRASES, rendered[voice], strict=True):
            before = cpu_seconds()
            transcript = transcriber.transcribe(pcm, RATE)
            total_cpu += cpu_seconds() - before
            total_audio += len(pcm) / 2 / RATE
            reference = words(phrase)
            errors += edit_distance(reference, words(transcript.text))
            reference_words += len(reference)
            confidence += transcript.confidence / len(PHRASES)
            print(f"  {phrase!r:55} -> {transcript.text!r} ({transcript.confidence:.2f})")
        print(f"  word error rate {errors}/{reference_words} = {errors / reference_words:.1%}")
        results.append((voice, errors, reference_words, confidence))

    # Every phrase of both voices back to back, a second of silence between: over PIECE_SECONDS,
    # so the recording is cut into utterances as a long voicemail is.
    silence = bytes(2 * RATE)
    long_pcm = silence.join(pcm for voice in VOICES for pcm in rendered[voice])
    before = cpu_seconds()
    long_transcript = transcriber.transcribe(long_pcm, RATE)
    long_cpu = cpu_seconds() - before
    long_seconds = len(long_pcm) / 2 / RATE
    reference = [word for _ in VOICES for phrase in PHRASES for word in words(phrase)]
    long_wer = edit_distance(reference, words(long_transcript.text)) / len(reference)

    short_rate = total_cpu / total_audio
    long_rate = long_cpu / long_seconds
    all_errors = sum(errors for _, errors, _, _ in results)
    all_words = sum(count for _, _, count, _ in results)
    print()
    print(f"model load: {load:.2f} CPU s")
    for voice, errors, count, confidence in results:
        print(
            f"{voice} voice, {len(PHRASES)} phrases: word error rate {errors / count:.1%}, "
            f"mean confidence {confidence:.2f}"
        )
    print(f"both voices, {2 * len(PHRASES)} phrases: word error rate {all_errors / all_words:.1%}")
    print(
        f"all {2 * len(PHRASES)} phrases as one {long_seconds:.1f} s recording: "
        f"word error rate {long_wer:.1%}"
    )
    print(f"CPU s per audio s, phrase by phrase ({total_audio:.1f} s): {short_rate:.3f}")
    print(f"CPU s per audio s, one {long_seconds:.1f} s recording: {long_rate:.3f}")
    ok = print_checks(
        [
            (
                f"CPU s per audio s {max(short_rate, long_rate):.3f}",
                f"< {TARGET_CPU_PER_AUDIO_SECOND:.1f}",
                max(short_rate, long_rate) < TARGET_CPU_PER_AUDIO_SECOND,
            )
        ]
    )
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        sys.exit(2)
