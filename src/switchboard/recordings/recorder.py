"""A recording's audio: pieces from a tap placed on a timeline, pauses cut out, encoded.

Pure (no IO, no clock but the times it is given). Pieces of each track (network/base.py
`Audio`) are placed at their start time; whatever no piece covers is silence; spans between a
pause and its resume are not in the file at all (pauseRecording.mdx: "Audio that occurs between
a <PauseRecording> verb and a <ResumeRecording> verb will not be present in the recording").
One channel mixes both tracks; two channels (multiChannel) put the far end (`inbound`) on channel
0 and what Switchboard played (`outbound`) on channel 1 (startRecording.mdx).
"""

from __future__ import annotations

import io
import warnings
import wave
from array import array
from collections.abc import Callable
from dataclasses import dataclass

from switchboard.network.base import SAMPLE_RATE, Audio

_MAX_SAMPLE = 32767
_MIN_SAMPLE = -32768


def _audioop_add() -> Callable[[bytes, bytes, int], bytes] | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import audioop
        except ImportError:  # Python 3.13+ without the audioop-lts backport
            return None
    add: Callable[[bytes, bytes, int], bytes] = audioop.add
    return add


_add = _audioop_add()


@dataclass(frozen=True, slots=True)
class RecordedAudio:
    channels: int
    seconds: float  # what the file holds (pauses cut out)
    pcm: tuple[bytes, ...]  # one 16-bit LE mono buffer per channel, equal lengths


class Recorder:
    def __init__(self, started_at: float, *, multichannel: bool = False) -> None:
        self.started_at = started_at
        self.multichannel = multichannel
        self._pieces: list[Audio] = []
        self._pauses: list[tuple[float, float | None]] = []  # (from, to); to None: paused now

    @property
    def paused(self) -> bool:
        return bool(self._pauses) and self._pauses[-1][1] is None

    def add(self, piece: Audio) -> None:
        self._pieces.append(piece)

    def pause(self, at: float) -> bool:
        """False when already paused (nothing changes)."""
        if self.paused:
            return False
        self._pauses.append((at, None))
        return True

    def resume(self, at: float) -> bool:
        """False when not paused (nothing changes)."""
        if not self.paused:
            return False
        self._pauses[-1] = (self._pauses[-1][0], at)
        return True

    def recorded_seconds(self, at: float) -> float:
        """How long the file will be if the recording ends at `at` (pauses cut out)."""
        return max(0.0, (at - self.started_at) - self._paused_seconds(at))

    def _paused_seconds(self, at: float) -> float:
        return sum(
            max(0.0, min(end if end is not None else at, at) - max(start, self.started_at))
            for start, end in self._pauses
        )

    def finish(self, at: float) -> RecordedAudio:
        total = _samples(self.recorded_seconds(at))
        tracks = {"inbound": array("h", bytes(2 * total)), "outbound": array("h", bytes(2 * total))}
        for piece in self._pieces:
            self._place(piece, tracks[piece.track], at)
        if self.multichannel:
            pcm: tuple[bytes, ...] = (tracks["inbound"].tobytes(), tracks["outbound"].tobytes())
        else:
            pcm = (_mix(tracks["inbound"], tracks["outbound"]).tobytes(),)
        return RecordedAudio(len(pcm), total / SAMPLE_RATE, pcm)

    def _place(self, piece: Audio, track: array[int], at: float) -> None:
        samples = array("h")
        samples.frombytes(piece.pcm[: len(piece.pcm) // 2 * 2])
        # Walk the piece sample by sample in runs between pause boundaries: what falls in a
        # pause, before the start or after the end is dropped; the rest lands at its offset.
        for begin, end in self._kept_spans(at):
            first = max(piece.start, begin)
            last = min(piece.start + len(samples) / SAMPLE_RATE, end)
            if last <= first:
                continue
            source = _samples(first - piece.start)
            count = min(_samples(last - first), len(samples) - source)
            target = _samples(self._recording_time(first, at))
            count = min(count, len(track) - target)
            if count > 0:
                _lay(track, target, samples[source : source + count])

    def _kept_spans(self, at: float) -> list[tuple[float, float]]:
        spans: list[tuple[float, float]] = []
        cursor = self.started_at
        for start, end in sorted(self._pauses):
            if start > cursor:
                spans.append((cursor, min(start, at)))
            cursor = max(cursor, end if end is not None else at)
        if cursor < at:
            spans.append((cursor, at))
        return [(begin, end) for begin, end in spans if end > begin]

    def _recording_time(self, moment: float, at: float) -> float:
        """Seconds into the file of a moment that was recorded (not paused)."""
        return (moment - self.started_at) - self._paused_seconds(min(moment, at))


def _lay(track: array[int], offset: int, piece: array[int]) -> None:
    """Put `piece` on `track` at `offset`: copied where the track is silent (the usual case),
    mixed where something is already there (a key pressed while the phone talks)."""
    end = offset + len(piece)
    if not any(track[offset:end]):
        track[offset:end] = piece
        return
    for index, value in enumerate(piece, start=offset):
        total = track[index] + value
        track[index] = _MAX_SAMPLE if total > _MAX_SAMPLE else max(_MIN_SAMPLE, total)


def _samples(seconds: float) -> int:
    return max(0, round(seconds * SAMPLE_RATE))


def _mix(first: array[int], second: array[int]) -> array[int]:
    if _add is not None:
        # C speed: the loop below takes ~6 ms per second of audio, on the event loop, which on
        # SIP stalls every call's RTP (a 10-minute recording: seconds). Same saturation.
        return array("h", _add(first.tobytes(), second.tobytes(), 2))
    mixed = array("h", first)
    for index, value in enumerate(second):
        if value:
            total = mixed[index] + value
            mixed[index] = _MAX_SAMPLE if total > _MAX_SAMPLE else max(_MIN_SAMPLE, total)
    return mixed


def interleave(channels: tuple[bytes, ...]) -> bytes:
    if len(channels) == 1:
        return channels[0]
    left, right = array("h"), array("h")
    left.frombytes(channels[0])
    right.frombytes(channels[1])
    both = array("h", bytes(4 * len(left)))
    both[0::2] = left
    both[1::2] = right
    return both.tobytes()


def encode_wav(audio: RecordedAudio) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as file:
        file.setnchannels(audio.channels)
        file.setsampwidth(2)
        file.setframerate(SAMPLE_RATE)
        file.writeframes(interleave(audio.pcm))
    return buffer.getvalue()


def encode_mp3(audio: RecordedAudio) -> bytes:
    import lameenc  # type: ignore[import-not-found]  # only when an mp3 is asked for

    encoder = lameenc.Encoder()
    encoder.set_bit_rate(32 if audio.channels == 1 else 64)
    encoder.set_in_sample_rate(SAMPLE_RATE)
    encoder.set_channels(audio.channels)
    encoder.set_quality(5)
    return bytes(encoder.encode(interleave(audio.pcm)) + encoder.flush())


def encode(audio: RecordedAudio, file_format: str) -> bytes:
    return encode_mp3(audio) if file_format == "mp3" else encode_wav(audio)
