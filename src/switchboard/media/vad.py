"""An energy voice activity detector: when did someone speak, in 8 kHz 16-bit PCM.

Pure (no clock but the times it is given). Each 20 ms frame is voiced when its RMS is above
`threshold`; speech starts after `onset` voiced frames in a row (a click or a packet of noise is
not speech) and ends `hangover` seconds after the last voiced frame (the pauses between words
stay inside one segment). A segment still going on is reported too, with the end of its latest
voiced frame, so that a listener waiting for silence (<Record silenceTimeout>) knows the far end
is talking while it talks, not only once it stops.

Energy, not a speech model: a steady tone or loud line noise counts as voice. For silence
detection on a phone line that is the useful answer (a caller playing music is not silent),
and it costs about a microsecond a frame (audioop's C `rms`, where Python has it).
"""

from __future__ import annotations

import math
import warnings
from array import array
from collections.abc import Callable

FRAME_SAMPLES = 160  # 20 ms at 8 kHz
FRAME_SECONDS = FRAME_SAMPLES / 8000
DEFAULT_THRESHOLD = 200.0  # RMS of 16-bit samples: about -44 dBFS, well above a line's hiss
DEFAULT_ONSET = 2  # frames: 40 ms
DEFAULT_HANGOVER = 0.3  # seconds


def _rms_function() -> Callable[[bytes], float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import audioop
        except ImportError:  # Python 3.13+ without the audioop-lts backport
            return _rms_python

    def rms(pcm: bytes) -> float:
        return float(audioop.rms(pcm, 2))

    return rms


def _rms_python(pcm: bytes) -> float:
    samples = array("h")
    samples.frombytes(pcm[: len(pcm) & ~1])
    if not samples:
        return 0.0
    return math.sqrt(sum(s * s for s in samples) / len(samples))


rms = _rms_function()

# (start, end, ongoing): a segment of speech, on the times given to `feed`.
Segment = tuple[float, float, bool]


class EnergyVad:
    def __init__(
        self,
        threshold: float = DEFAULT_THRESHOLD,
        onset: int = DEFAULT_ONSET,
        hangover: float = DEFAULT_HANGOVER,
    ) -> None:
        self.threshold = threshold
        self.onset = max(1, onset)
        self.hangover = hangover
        self._run_start = 0.0  # where the current run of voiced frames began
        self._run = 0  # voiced frames in a row
        self._speech_start: float | None = None  # a segment is open
        self._voiced_end = 0.0  # the end of the open segment's latest voiced frame
        self._rest = b""  # less than a frame, left from the last feed
        self._rest_start = 0.0

    def feed(self, start: float, pcm: bytes) -> list[Segment]:
        """Audio from `start` seconds; the segments it ended, then the open one (ongoing) if
        this audio extended it. Gaps between feeds are silence."""
        if self._rest and abs(self._rest_start + len(self._rest) / 16000 - start) < 1e-4:
            pcm, start = self._rest + pcm, self._rest_start
        self._rest = b""
        segments: list[Segment] = []
        extended = False
        frame_bytes = 2 * FRAME_SAMPLES
        whole = len(pcm) - len(pcm) % frame_bytes
        for offset in range(0, whole, frame_bytes):
            frame_start = start + offset / 16000
            self._close_if_silent_until(frame_start, segments)
            if rms(pcm[offset : offset + frame_bytes]) > self.threshold:
                if self._run == 0:
                    self._run_start = frame_start
                self._run += 1
                if self._speech_start is None and self._run >= self.onset:
                    self._speech_start = self._run_start
                if self._speech_start is not None:
                    self._voiced_end = frame_start + FRAME_SECONDS
                    extended = True
            else:
                self._run = 0
        if whole < len(pcm):
            self._rest, self._rest_start = pcm[whole:], start + whole / 16000
        if extended and self._speech_start is not None:
            segments.append((self._speech_start, self._voiced_end, True))
        return segments

    def finish(self, at: float) -> list[Segment]:
        """No more audio after `at`: the open segment, if any, ends."""
        segments: list[Segment] = []
        self._close_if_silent_until(at + self.hangover, segments)
        return segments

    def _close_if_silent_until(self, time: float, segments: list[Segment]) -> None:
        if self._speech_start is not None and time - self._voiced_end >= self.hangover - 1e-9:
            segments.append((self._speech_start, self._voiced_end, False))
            self._speech_start = None
            self._run = 0
