"""The audio of the simulated network, for taps: no audio flows between virtual phones, so a tap
gets audio rendered from what happens on the clock.

- `outbound` (what Switchboard plays to the leg): SpeakSentence synthesised with espeak-ng as
  the SIP network does, then fitted (padded with silence or cut) to the duration the simulated
  network gives it (words at words_per_minute), so that the audio matches the clock; PlayAudio's
  decoded file, fitted to the duration read from its header; SendDtmf's tones; Ring's ringback.
  A Pause, or nothing playing, is silence (nothing is delivered).
- `inbound` (what the phone sends): its `speech` lines, synthesised, each taking the real
  duration of its audio; its key presses as DTMF tones.

A piece of audio is delivered when it ends, or when it is cut short (stop_media, barge-in,
hangup, the tap closing), cut to what was actually played. The pure parts (fitting, cutting,
the phone's schedule, the tones) are functions here; the rest follows the legs' timers.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

from switchboard.activity import Activity
from switchboard.clock import Clock
from switchboard.media import dtmf
from switchboard.media.tts import synthesize
from switchboard.network.base import SAMPLE_RATE, Audio, TapSink, Track, Voice
from switchboard.network.phones import SpokenLine

logger = logging.getLogger("switchboard.network")

BYTES_PER_SECOND = 2 * SAMPLE_RATE
KEY_TONE_SECONDS = 0.1  # how long a virtual phone holds a key it presses
PAUSE_MS = {",": 500.0, "w": 500.0, "W": 1000.0}  # sendDtmf.mdx, as the simulated network times
_SSML_TAG = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"\s+")


# -- pure parts -------------------------------------------------------------------------------
def sample_count(seconds: float) -> int:
    return max(0, round(seconds * SAMPLE_RATE))


def pcm_seconds(pcm: bytes) -> float:
    return len(pcm) // 2 / SAMPLE_RATE


def fit(pcm: bytes, seconds: float) -> bytes:
    """`pcm` made exactly `seconds` long: silence added at the end, or the end cut off."""
    wanted = 2 * sample_count(seconds)
    if len(pcm) >= wanted:
        return pcm[:wanted]
    return pcm + bytes(wanted - len(pcm))


def span(pcm: bytes, start: float, first: float, last: float) -> bytes:
    """The part of `pcm` (which starts at `start`) that falls between `first` and `last`."""
    begin = 2 * sample_count(first - start)
    end = 2 * sample_count(last - start)
    return pcm[begin : min(end, len(pcm) // 2 * 2)] if end > begin else b""


@dataclass(frozen=True, slots=True)
class ScheduledLine:
    start: float
    end: float
    text: str


def schedule_speech(
    lines: Iterable[SpokenLine],
    seconds_of: Mapping[str, float],
    answered_at: float,
    not_before: float | None = None,
) -> list[ScheduledLine]:
    """When the phone says each line: `at` seconds after the answer, in order of `at`, each for
    the duration of its audio (`seconds_of[text]`). A person says one thing at a time: a line
    due while the previous one is still being said starts when it ends. Nothing starts before
    `not_before` (the moment the audio was ready, when it was late)."""
    cursor = answered_at if not_before is None else max(answered_at, not_before)
    scheduled = []
    for line in sorted(lines, key=lambda line: line.at):
        start = max(answered_at + line.at, cursor)
        end = start + seconds_of[line.text]
        scheduled.append(ScheduledLine(start, end, line.text))
        cursor = end
    return scheduled


def dtmf_pcm(digits: str, tone_ms: float, interval_ms: float) -> bytes:
    """SendDtmf's in-band tones, laid out as the SIP network sends them (media/rtp.py): a tone
    and an interval per key, a pause (',', 'w', 'W') taking the place of the interval before it."""
    parts: list[bytes] = []
    for index, key in enumerate(digits):
        if key in PAUSE_MS:
            parts.append(dtmf.silence(PAUSE_MS[key]))
            continue
        parts.append(dtmf.tone(key, tone_ms))
        if digits[index + 1 : index + 2] not in PAUSE_MS:
            parts.append(dtmf.silence(interval_ms))
    return b"".join(parts)


def key_pcm(digit: str) -> bytes:
    """The tone of one key the phone presses."""
    return dtmf.tone(digit, KEY_TONE_SECONDS * 1000)


def plain_text(ssml: str) -> str:
    """What SpeakSentence says, without its SSML tags."""
    return _SPACES.sub(" ", html.unescape(_SSML_TAG.sub(" ", ssml))).strip()


# -- speech the phones say --------------------------------------------------------------------
class Phrases:
    """The phones' lines synthesised (a phone's voice: espeak-ng's default en-US female), kept in
    an LRU bounded by bytes. `ready(text)` answers without waiting: a line is rendered ahead, when
    a leg to a talking phone is created, so that it is said on time."""

    def __init__(self, max_bytes: int = 32 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0

    def ready(self, text: str) -> bytes | None:
        pcm = self._entries.get(text)
        if pcm is not None:
            self._entries.move_to_end(text)
        return pcm

    async def render(self, text: str) -> bytes:
        pcm = self.ready(text)
        if pcm is None:
            pcm = await synthesize(text)  # espeak-ng runs as a subprocess: the loop goes on
            self._store(text, pcm)
        return pcm

    def _store(self, text: str, pcm: bytes) -> None:
        if len(pcm) > self.max_bytes or text in self._entries:
            return
        self._entries[text] = pcm
        self._size += len(pcm)
        while self._size > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._size -= len(evicted)


# -- pieces and taps --------------------------------------------------------------------------
Render = Callable[[], Awaitable[bytes]]


class Piece:
    """A stretch of audio on one track of a leg, from `start` on the engine clock. Its PCM is
    made when first read (tones, ringback: `make`), given (the phone's rendered lines), or
    rendered in a task once a tap wants it (speech, files: `render`), so that calls nobody
    listens to cost nothing. `seconds` is its duration on the clock when known; the PCM is
    fitted to it."""

    def __init__(
        self,
        track: Track,
        start: float,
        seconds: float | None,
        *,
        pcm: bytes | None = None,
        make: Callable[[], bytes] | None = None,
        render: Render | None = None,
        text: str | None = None,
    ) -> None:
        self.track: Track = track
        self.start = start
        self.seconds = seconds
        self.text = text  # for a Voice segment with the audio
        self._pcm: bytes | None = None
        self.failed = False
        self._make = make
        self._render = render
        self._task: asyncio.Task[None] | None = None
        self._waiting: list[SimTap] = []
        if pcm is not None:
            self._rendered(pcm)

    @property
    def pcm(self) -> bytes | None:
        if self._pcm is None and self._make is not None:
            make, self._make = self._make, None
            self._rendered(make())
        return self._pcm

    @property
    def settled(self) -> bool:
        return self._pcm is not None or self._make is not None or self.failed

    def want(self, activity: Activity) -> None:
        """Start rendering, if not done or under way (a tap will need the PCM). Counted as the
        engine's activity: a test that lets the engine settle gets the audio too."""
        if self.settled or self._task is not None or self._render is None:
            return
        self._task = activity.spawn(self._run(self._render))

    async def _run(self, render: Render) -> None:
        try:
            pcm = await render()
        except Exception as error:  # the leg's own request reports the failure; a tap gets nothing
            logger.info("no audio for a tap: %s", error)
            self.failed = True
            self._wake()
        else:
            self._rendered(pcm)

    def _rendered(self, pcm: bytes) -> None:
        self._pcm = fit(pcm, self.seconds) if self.seconds is not None else pcm
        self._wake()

    def wait(self, tap: SimTap) -> None:
        self._waiting.append(tap)

    def _wake(self) -> None:
        waiting, self._waiting = self._waiting, []
        for tap in waiting:
            tap.flush()  # from the render task: never inside a sink or a caller of the leg


@dataclass(slots=True)
class _Heard:
    piece: Piece
    track: Track
    first: float
    last: float
    with_voice: bool


class SimTap:
    """A tap on a simulated leg. What it hears is queued in order and delivered in that order
    (a piece still rendering holds back the ones after it), on the clock's next turn rather than
    inside the leg's caller, so that the sink is never called re-entrantly."""

    def __init__(self, clock: Clock, sink: TapSink, opened_at: float) -> None:
        self.clock = clock
        self.sink = sink
        self.opened_at = opened_at
        self.listening = True  # False once closed or once its leg ended
        self.closed = False
        self._queue: deque[_Heard | Voice] = deque()
        self._flush_due = False
        self.on_close: Callable[[SimTap], None] | None = None

    def hear(self, piece: Piece, first: float, last: float, track: Track | None = None) -> None:
        """`piece` played from `first` to `last`: deliver that part (outbound speech also gets
        its Voice segment)."""
        first = max(first, self.opened_at)
        if not self.listening or last <= first:
            return
        with_voice = piece.text is not None and piece.track == "outbound"
        self._queue.append(_Heard(piece, track or piece.track, first, last, with_voice))
        if not piece.settled:
            piece.wait(self)
        self._soon()

    def say(self, voice: Voice) -> None:
        if self.listening and voice.end > voice.start:
            self._queue.append(voice)
            self._soon()

    def leg_ended(self) -> None:
        """Nothing more is heard; what was heard is still delivered."""
        self.listening = False

    def close(self) -> None:
        """Stop listening. What was played up to now is delivered first, here (the leg cuts its
        pieces short for this tap before calling this), except audio still rendering."""
        if self.closed:
            return
        if self.on_close is not None:
            self.on_close(self)
        self.listening = False
        self.flush()
        self.closed = True
        self._queue.clear()

    def _soon(self) -> None:
        if not self._flush_due:
            self._flush_due = True
            self.clock.call_later(0, self._flush_now)

    def _flush_now(self) -> None:
        self._flush_due = False
        self.flush()

    def flush(self) -> None:
        while self._queue and not self.closed:
            head = self._queue[0]
            if isinstance(head, _Heard) and not head.piece.settled:
                return
            self._queue.popleft()
            if isinstance(head, Voice):
                self.sink(head)
                continue
            piece = head.piece
            if piece.pcm is None:
                continue  # it could not be rendered: silence
            pcm = span(piece.pcm, piece.start, head.first, head.last)
            if pcm:
                self.sink(Audio(head.track, head.first, pcm))
            if head.with_voice:
                self.sink(Voice(head.track, head.first, head.last, piece.text))
