"""Speech-to-text behind one seam: `Transcriber.transcribe(pcm, sample_rate) -> Transcript`.

Two transcribers (docs/transcription.md):
- `KnownTextTranscriber`: the text it was given, with confidence 1.0. On the simulated network
  a phone's scripted speech is known text, so a test can choose the exact transcript.
- `PocketSphinxTranscriber`: real recognition, offline, with the US English acoustic model,
  dictionary and language model that the `pocketsphinx` wheel ships.

`transcribe` blocks (PocketSphinx decodes in C at a few tenths of a CPU second per second of
audio): async callers run it in a thread (`asyncio.to_thread`).
"""

from __future__ import annotations

import array
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import miniaudio

TELEPHONE_RATE = 8000
# Bandwidth transcribes only recordings longer than 500 ms and shorter than 4 hours
# (bxml/record.mdx, recordingGuide.mdx); the transcription's status names the failure
# (bandwidth-openapi.yml, transcription `status`).
MIN_SECONDS = 0.5
MAX_SECONDS = 4 * 3600.0
TOO_SMALL = "file-size-too-small"
TOO_BIG = "file-size-too-big"


def transcribable(seconds: float) -> str | None:
    """None when a recording of `seconds` may be transcribed, else the transcription status
    Bandwidth reports instead ('file-size-too-small' or 'file-size-too-big')."""
    if seconds <= MIN_SECONDS:
        return TOO_SMALL
    if seconds >= MAX_SECONDS:
        return TOO_BIG
    return None


@dataclass(frozen=True, slots=True)
class Transcript:
    """What was said, and how sure the engine is of it (0 = not at all, 1 = certain)."""

    text: str
    confidence: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence must be within [0, 1], not {self.confidence!r}")


class Transcriber(Protocol):
    def transcribe(self, pcm: bytes, sample_rate: int = TELEPHONE_RATE) -> Transcript:
        """Text of `pcm` (16-bit little-endian mono at `sample_rate` Hz). Blocking."""
        ...


class KnownTextTranscriber:
    """The transcript is known in advance (a virtual phone's scripted speech): the audio is not
    listened to, and the text comes back exactly, with confidence 1.0."""

    def __init__(self, text: str) -> None:
        self.text = text

    def transcribe(self, pcm: bytes, sample_rate: int = TELEPHONE_RATE) -> Transcript:
        return Transcript(self.text, 1.0)


# PocketSphinx's acoustic model is trained on 16 kHz audio and its feature parameters
# (feat.params: 25 mel filters from 130 to 6800 Hz) cannot be overridden by the decoder's config.
# A copy of the model with an 8 kHz front end (upperf 3500-3800, nfft 256) was measured at 97-98 %
# word error rate on espeak-ng speech, against 80-92 % when the 8 kHz audio is upsampled to
# 16 kHz; so telephone audio is upsampled, by miniaudio's linear interpolation (an FIR-filtered
# upsampler that leaves 4-8 kHz empty measured worse still: the model expects energy there).
MODEL_RATE = 16000
# Each utterance is decoded whole (`full_utt`: the cepstral mean is that of the utterance itself;
# fed in streaming pieces from the model's initial mean, short phrases came out worse). A long
# recording is cut into utterances of at most PIECE_SECONDS, each cut at the quietest 50 ms of
# the last CUT_WINDOW_SECONDS before the limit (most likely a pause between words), so a 4-hour
# recording is never held whole at 16 kHz, nor its features and lattice.
PIECE_SECONDS = 30
CUT_WINDOW_SECONDS = 10
_CUT_FRAME_SECONDS = 0.05
_NOT_WORDS = frozenset({"<s>", "</s>", "<sil>", "[NOISE]", "[SPEECH]"})


class PocketSphinxTranscriber:
    """US English recognition with PocketSphinx's bundled model (no network, no downloads).

    Confidence is the mean, over the recognised words, of each word's posterior probability in
    the decoder's lattice (`Decoder.seg()`'s `prob`, already in [0, 1]); silence and filler
    entries do not count, and an empty transcript has confidence 0. The utterance's overall
    posterior (`hyp().prob`) is the product over all words and shrinks with length, so it
    would say "unsure" of every long message; the mean word posterior does not.

    One decoder serves every call, one utterance at a time (a lock: the C decoder is not
    thread-safe); build one per worker thread for parallel transcription.
    """

    def __init__(self) -> None:
        # Imported here: the extension and its model load only when this engine is chosen.
        from pocketsphinx import Decoder  # type: ignore[import-untyped]

        # Default hmm, lm and dict: the en-us model inside the wheel. loglevel FATAL keeps the
        # C library's INFO lines (hundreds per utterance) off stderr. Dither (±1 LSB of noise):
        # digital silence, which the simulated network records between words, has a log
        # energy of minus infinity, and undithered the decoder "heard" words in it (1 s of
        # zeros came out as "dog" with confidence 1.0); dithered it is silence, and accuracy on
        # speech measured the same or better. A fixed seed keeps transcripts reproducible.
        self._decoder = Decoder(loglevel="FATAL", dither=True, seed=1)
        self._lock = threading.Lock()

    def transcribe(self, pcm: bytes, sample_rate: int = TELEPHONE_RATE) -> Transcript:
        if sample_rate <= 0:
            raise ValueError("sample rate must be positive")
        texts: list[str] = []
        posteriors: list[float] = []
        with self._lock:
            for piece in utterances(pcm, sample_rate):
                text, piece_posteriors = self._decode(_to_model_rate(piece, sample_rate))
                if text:
                    texts.append(text)
                    posteriors += piece_posteriors
        if not texts or not posteriors:
            return Transcript("", 0.0)
        mean = sum(posteriors) / len(posteriors)
        return Transcript(" ".join(texts), min(1.0, max(0.0, mean)))

    def _decode(self, pcm: bytes) -> tuple[str, list[float]]:
        decoder = self._decoder
        # The front end carries state (its cepstral mean, its noise estimate) from one
        # utterance into the next, so a transcript would depend on what was transcribed before:
        # each utterance starts from a fresh one (measured: identical transcripts; 25 µs).
        decoder.reinit_feat()
        decoder.start_utt()
        try:
            if pcm:
                decoder.process_raw(pcm, full_utt=True)
        finally:
            decoder.end_utt()
        hypothesis = decoder.hyp()
        posteriors = [
            float(segment.prob)
            for segment in decoder.seg() or ()  # None when nothing was decoded
            if segment.word not in _NOT_WORDS and not segment.word.startswith("++")
        ]
        return (hypothesis.hypstr.strip() if hypothesis is not None else ""), posteriors


def utterances(pcm: bytes, sample_rate: int) -> Iterator[bytes]:
    """`pcm` (16-bit mono) in pieces of at most PIECE_SECONDS, cut where it is quietest."""
    pcm = pcm[: len(pcm) & ~1]
    limit = 2 * sample_rate * PIECE_SECONDS
    window = 2 * sample_rate * CUT_WINDOW_SECONDS
    frame = 2 * max(1, round(sample_rate * _CUT_FRAME_SECONDS))
    start = 0
    while len(pcm) - start > limit:
        cut = _quietest(pcm, start + limit - window, start + limit, frame)
        yield pcm[start:cut]
        start = cut
    yield pcm[start:]


def _quietest(pcm: bytes, low: int, high: int, frame: int) -> int:
    """The byte offset of the middle of the quietest `frame` bytes in pcm[low:high]."""
    samples = array.array("h", pcm[low:high])
    if sys.byteorder == "big":
        samples.byteswap()
    count = frame // 2
    best, best_energy = 0, -1
    for index in range(0, len(samples) - count + 1, count):
        energy = sum(value * value for value in samples[index : index + count])
        if best_energy < 0 or energy < best_energy:
            best, best_energy = index, energy
    return low + 2 * (best + count // 2)


def _to_model_rate(pcm: bytes, sample_rate: int) -> bytes:
    if sample_rate == MODEL_RATE or not pcm:
        return pcm
    converted = miniaudio.convert_frames(
        miniaudio.SampleFormat.SIGNED16,
        1,
        sample_rate,
        pcm,
        miniaudio.SampleFormat.SIGNED16,
        1,
        MODEL_RATE,
    )
    return bytes(converted)
