"""The simulated phone network: virtual callees that answer, ring out, are busy, press keys,
talk and hang up as configured, with media that takes its real duration on the engine's clock.
Taps get real audio rendered from what happens (network/sim_audio.py)."""

from __future__ import annotations

import asyncio
import html
import logging
import re
from collections.abc import Callable

from switchboard.activity import Activity
from switchboard.clock import Clock, TimerHandle
from switchboard.media.ringback import ringback_pcm
from switchboard.media.tts import synthesize
from switchboard.network.audio import AudioDurations, AudioError
from switchboard.network.audio_files import AudioFiles
from switchboard.network.base import (
    NO_CALLER_ID,
    Answered,
    Busy,
    CallerId,
    CallRefused,
    Digit,
    EventSink,
    Failed,
    InboundOffer,
    IncomingCalls,
    MediaFailed,
    MediaFinished,
    Rejected,
    RemoteHangup,
    Ringing,
    TapSink,
    Track,
    Voice,
)
from switchboard.network.phones import PhoneBehaviour, ScriptedCall, SimulatorSettings, dialable
from switchboard.network.sim_audio import (
    BYTES_PER_SECOND,
    KEY_TONE_SECONDS,
    Phrases,
    Piece,
    SimTap,
    dtmf_pcm,
    key_pcm,
    plain_text,
    schedule_speech,
)

logger = logging.getLogger("switchboard.network")
_WORD = re.compile(r"\w+")
_SSML_TAG = re.compile(r"<[^>]*>")
_BREAK_TIME = re.compile(
    r"""<break\b[^>]*?\btime\s*=\s*["']\s*(\d+(?:\.\d+)?)\s*(ms|s)\s*["']""", re.IGNORECASE
)
MIN_SPEECH_SECONDS = 0.5
MAX_BREAK_SECONDS = 10.0  # speakSentence.mdx: a <break> lasts at most 10 seconds
# startRecording.mdx: "During a <Transfer> the A-leg will be recorded in channel 0 (left channel)
# while the B-leg will be recorded in channel 1 (right channel)": channel 1 is the `outbound`
# track, which is also what reaches the leg: in a room, the other phones are heard on it.
ROOM_TRACK: Track = "outbound"


def speech_seconds(ssml: str, words_per_minute: float) -> float:
    """The documented model: the words of the text (SSML tags removed) at `words_per_minute`,
    plus each <break time="...">, never under half a second."""
    words = len(_WORD.findall(html.unescape(_SSML_TAG.sub(" ", ssml))))
    breaks = sum(
        min(MAX_BREAK_SECONDS, float(value) / (1000.0 if unit.lower() == "ms" else 1.0))
        for value, unit in _BREAK_TIME.findall(ssml)
    )
    return max(MIN_SPEECH_SECONDS, words * 60.0 / words_per_minute + breaks)


# sendDtmf.mdx: ',' and 'w' pause half a second, 'W' one second.
DTMF_PAUSES_MS = {",": 500.0, "w": 500.0, "W": 1000.0}


def dtmf_seconds(digits: str, tone_ms: float, interval_ms: float) -> float:
    """How long <SendDtmf> plays: a tone then an interval per key, except that a pause replaces
    the interval before it (sendDtmf.mdx: with toneInterval 300, "1w2" plays 2 500 ms after 1)."""
    total_ms = 0.0
    owed_ms = 0.0  # the interval after the last tone, unless a pause takes its place
    for key in digits:
        if key in DTMF_PAUSES_MS:
            total_ms += DTMF_PAUSES_MS[key]
            owed_ms = 0.0
        else:
            total_ms += owed_ms + tone_ms
            owed_ms = interval_ms
    return (total_ms + owed_ms) / 1000


class SimulatedLeg:
    """The virtual phone at the other end of a call: the callee of an outbound call, or the
    caller of an inbound one (`inbound`), which rings us and which we answer."""

    def __init__(
        self,
        network: SimulatedNetwork,
        call_id: str,
        behaviour: PhoneBehaviour,
        sink: EventSink,
        *,
        inbound: bool = False,
    ) -> None:
        self.network = network
        self.call_id = call_id
        self.inbound = inbound
        self.sip_call_id: str | None = None  # no SIP dialog on the simulated network
        self.behaviour = behaviour
        self.sink = sink
        self.answered = False
        self.ended = False
        self.gathers_heard = 0
        self._media_timer: TimerHandle | None = None
        self._media_generation = 0
        self._timers: list[TimerHandle] = []
        self.taps: list[SimTap] = []
        self._playing: Piece | None = None  # what Switchboard plays to the phone now
        self._saying: list[Piece] = []  # what the phone sends now: a line, a key's tone
        self._lines_ready: asyncio.Task[None] | None = None
        if behaviour.speech:
            # Rendered now, while the phone rings, so that it talks on time once answered.
            self._lines_ready = network.activity.spawn(self._render_lines())

    @property
    def media_generation(self) -> int:
        return self._media_generation

    # -- the callee's side ------------------------------------------------------------------
    def start(self) -> None:
        self._emit(Ringing())
        outcome = self.behaviour.outcome
        if outcome == "no-answer":
            return
        self._later(self.behaviour.answer_after, self.respond_with, outcome)

    def respond_with(self, outcome: str) -> None:
        if self.ended or self.answered:
            return
        if outcome == "answer":
            self.answer()
        elif outcome == "busy":
            self._finish(Busy(486))  # what a busy SIP callee answers
        elif outcome == "reject":
            self._finish(Rejected(603))  # SIP's Decline
        elif outcome == "fail":
            self._finish(Failed("the simulated network failed to place the call", 503))

    def answer(self) -> None:
        """Outbound: the callee answers (reported as Answered). Inbound: Switchboard answers
        the caller (nothing to report: the runner answered)."""
        if self.ended or self.answered:
            return
        self.answered = True
        if not self.inbound:
            self._emit(Answered())
        if self.behaviour.hangup_after is not None:
            self._later(self.behaviour.hangup_after, self.remote_hangup)
        for timed in self.behaviour.timed_digits:
            self._later(timed.at, self.press, timed.digits)
        if self.behaviour.speech:
            self._start_talking(self.network.clock.monotonic())

    def early_media(self) -> None:
        pass  # no audio flows on the simulated network

    def remote_hangup(self) -> None:
        """The phone hangs up: a callee that rings declines; a caller gives up or hangs up."""
        if self.ended:
            return
        if not self.answered and not self.inbound:
            self._finish(Rejected())
            return
        self._finish(RemoteHangup())

    def press(self, digits: str, interval: float | None = None) -> None:
        """Press keys, one every `interval` seconds (the first one now)."""
        if self.ended or not self.answered:
            return
        gap = self.behaviour.digit_interval if interval is None else interval
        for index, digit in enumerate(digits):
            self._later(index * gap, self._press_one, digit)

    def _press_one(self, digit: str) -> None:
        if not self.ended:
            tone = Piece("inbound", self._now(), KEY_TONE_SECONDS, make=lambda: key_pcm(digit))
            self._send(tone)
            self._emit(Digit(digit))

    # -- the phone talks ----------------------------------------------------------------------
    async def _render_lines(self) -> None:
        for line in self.behaviour.speech:
            try:
                await self.network.phrases.render(line.text)
            except Exception as error:  # espeak-ng missing or failing: the phone stays silent
                logger.warning("the phone of call %s cannot talk: %s", self.call_id, error)
                return

    def _start_talking(self, answered_at: float) -> None:
        phrases = self.network.phrases
        rendered = {line.text: phrases.ready(line.text) for line in self.behaviour.speech}
        if all(pcm is not None for pcm in rendered.values()):
            self._schedule_lines(answered_at, None)
            return

        async def when_ready() -> None:
            if self._lines_ready is not None:
                await self._lines_ready
            if not self.ended:
                self._schedule_lines(answered_at, self._now())

        self.network.activity.spawn(when_ready())

    def _schedule_lines(self, answered_at: float, not_before: float | None) -> None:
        phrases = self.network.phrases
        audio = {line.text: phrases.ready(line.text) for line in self.behaviour.speech}
        if any(pcm is None for pcm in audio.values()):
            return  # it could not be synthesised (logged): the phone says nothing
        seconds = {text: len(pcm or b"") / BYTES_PER_SECOND for text, pcm in audio.items()}
        for line in schedule_speech(self.behaviour.speech, seconds, answered_at, not_before):
            pcm = audio[line.text]
            assert pcm is not None
            self._later(line.start - self._now(), self._say, line.text, pcm)

    def _say(self, text: str, pcm: bytes) -> None:
        if self.ended:
            return
        now = self._now()
        piece = Piece("inbound", now, None, pcm=pcm, text=text)
        end = now + len(pcm) / BYTES_PER_SECOND
        # The segment goes out as the phone starts talking (silence detection needs to know
        # someone talks); the audio when the line is said.
        for tap, track, first in self._listeners(piece):
            tap.say(Voice(track, max(first, now), end, text))
        self._send(piece)

    def _send(self, piece: Piece) -> None:
        """The phone sends `piece` (a line, a key's tone): heard on the inbound track, and by
        the taps of the legs in a room with this one."""
        self._saying.append(piece)
        seconds = (
            piece.seconds if piece.seconds is not None else len(piece.pcm or b"") / BYTES_PER_SECOND
        )
        self.network.clock.call_later(seconds, lambda: self._sent(piece))

    def _sent(self, piece: Piece) -> None:
        if piece in self._saying:
            self._saying.remove(piece)
            self._heard(piece)

    def _listeners(self, piece: Piece) -> list[tuple[SimTap, Track, float]]:
        """The taps that hear `piece`, on which track, from when."""
        listeners = [(tap, piece.track, piece.start) for tap in self.taps]
        if piece.track == "inbound":
            for leg, joined_at in self.network.joined_with(self.call_id):
                listeners += [(tap, ROOM_TRACK, max(piece.start, joined_at)) for tap in leg.taps]
        return listeners

    def _heard(self, piece: Piece) -> None:
        """`piece` ended (or was cut) now: its taps get what was played."""
        now = self._now()
        for tap, track, first in self._listeners(piece):
            tap.hear(piece, first, now, track)

    @property
    def saying(self) -> tuple[Piece, ...]:
        """What the phone is sending now (a line it says, a key's tone)."""
        return tuple(self._saying)

    def tap_opened(self, tap: SimTap) -> None:
        self.taps.append(tap)
        tap.on_close = self._tap_closed
        if self._playing is not None:
            self._playing.want(self.network.activity)
        for piece in self._saying:
            if piece.text is not None:  # a line being said: the rest of its segment
                seconds = len(piece.pcm or b"") / BYTES_PER_SECOND
                tap.say(Voice("inbound", tap.opened_at, piece.start + seconds, piece.text))
        for leg, _ in self.network.joined_with(self.call_id):
            for piece in leg.saying:
                if piece.text is not None:
                    seconds = len(piece.pcm or b"") / BYTES_PER_SECOND
                    tap.say(Voice(ROOM_TRACK, tap.opened_at, piece.start + seconds, piece.text))

    def _tap_closed(self, tap: SimTap) -> None:
        """Before a tap closes: it gets what is playing, up to now."""
        if tap in self.taps:
            self.taps.remove(tap)
            if self._playing is not None:
                tap.hear(self._playing, self._playing.start, self._now())
            for piece in self._saying:
                tap.hear(piece, piece.start, self._now())
        for leg, joined_at in self.network.joined_with(self.call_id):
            for piece in leg.saying:
                tap.hear(piece, max(piece.start, joined_at), self._now(), ROOM_TRACK)

    # -- what Switchboard asks of the leg ---------------------------------------------------
    def speak(self, text: str, voice: str | None, gender: str | None, locale: str | None) -> None:
        seconds = speech_seconds(text, self.network.settings.words_per_minute)

        async def render() -> bytes:
            return await synthesize(text, voice, gender, locale)

        # The recording matches the clock: espeak-ng's audio is fitted to the modelled duration.
        self._play_for(
            seconds, Piece("outbound", self._now(), seconds, render=render, text=plain_text(text))
        )

    def play(self, url: str, username: str | None, password: str | None) -> None:
        generation = self._new_media()

        async def fetch_then_play() -> None:
            try:
                seconds = await self.network.audio.duration(url, username, password)
            except AudioError as error:
                if generation == self._media_generation and not self.ended:
                    self._emit(MediaFailed("application-error", str(error), generation))
                return
            except Exception as error:  # a bug here must end the call, never leave it waiting
                logger.exception("playing %s failed inside Switchboard", url)
                if generation == self._media_generation and not self.ended:
                    self._emit(
                        MediaFailed(
                            "error",
                            f"Switchboard internal error playing {url}: {error}",
                            generation,
                        )
                    )
                return
            if generation == self._media_generation and not self.ended:
                files = self.network.files

                async def render() -> bytes:
                    return await files.pcm(url, username, password)

                # The decoded file, fitted to the duration its header gave the clock.
                self._start_piece(Piece("outbound", self._now(), seconds, render=render))
                self._schedule_media_end(seconds, generation)

        self.network.activity.spawn(fetch_then_play())

    def silence(self, seconds: float) -> None:
        self._play_for(seconds)  # nothing to send: a tap hears a gap

    def ring(self, seconds: float) -> None:
        ringback = Piece("outbound", self._now(), seconds, make=lambda: ringback_pcm(seconds))
        self._play_for(seconds, ringback)

    def send_dtmf(self, digits: str, tone_ms: float, interval_ms: float) -> None:
        seconds = dtmf_seconds(digits, tone_ms, interval_ms)
        tones = Piece(
            "outbound", self._now(), seconds, make=lambda: dtmf_pcm(digits, tone_ms, interval_ms)
        )
        self._play_for(seconds, tones)

    def stop_media(self) -> None:
        self._new_media()

    def gather_started(self) -> None:
        digits = self.behaviour.digits_for_gather(self.gathers_heard)
        self.gathers_heard += 1
        if digits:
            self._later(self.behaviour.digit_delay, self.press, digits)

    def hangup(self) -> None:
        self.ended = True
        self._new_media()
        for timer in self._timers:
            timer.cancel()
        saying, self._saying = self._saying, []
        for piece in saying:  # cut short: a line ends with the call
            self._heard(piece)
        for tap in self.taps:
            tap.leg_ended()
        self.taps.clear()
        # The timers' callbacks point back at this leg: dropped, so that reference counting
        # frees an ended leg (switchboard/collector.py).
        self._timers.clear()
        self.network.legs.pop(self.call_id, None)

    # -- plumbing ---------------------------------------------------------------------------
    def _play_for(self, seconds: float, piece: Piece | None = None) -> None:
        generation = self._new_media()
        if piece is not None:
            self._start_piece(piece)
        self._schedule_media_end(seconds, generation)

    def _start_piece(self, piece: Piece) -> None:
        self._playing = piece
        if self.taps:
            piece.want(self.network.activity)

    def _stop_piece(self) -> None:
        """What plays ends now (at its end, or cut short): its taps get what was played."""
        piece, self._playing = self._playing, None
        if piece is not None:
            self._heard(piece)

    def _new_media(self) -> int:
        """Cancel whatever media is playing; return the id of the next one."""
        if self._media_timer is not None:
            self._media_timer.cancel()
            self._media_timer = None
        self._stop_piece()
        self._media_generation += 1
        return self._media_generation

    def _schedule_media_end(self, seconds: float, generation: int) -> None:
        def finished() -> None:
            if generation == self._media_generation and not self.ended:
                self._media_timer = None
                self._stop_piece()
                self._emit(MediaFinished(generation))

        self._media_timer = self.network.clock.call_later(seconds, finished)

    def _now(self) -> float:
        return self.network.clock.monotonic()

    def _later(self, delay: float, function: object, *args: object) -> None:
        assert callable(function)
        self._timers.append(self.network.clock.call_later(delay, lambda: function(*args)))

    def _finish(self, event: Busy | Rejected | Failed | RemoteHangup) -> None:
        self.hangup()
        self.sink(event)

    def _emit(self, event: object) -> None:
        self.sink(event)  # type: ignore[arg-type]


class SimulatedRoom:
    """Legs joined on the simulated network: each phone "hears" the others. No audio flows, so
    there is nothing to relay; the join is on the calls' timelines."""

    def __init__(self, network: SimulatedNetwork, leg_ids: tuple[str, ...]) -> None:
        self.network = network
        self.leg_ids = leg_ids
        self.opened_at = network.clock.monotonic()
        network.rooms.add(self)
        # A line being said as the legs are joined: the others' taps hear the rest of it.
        for leg_id in leg_ids:
            speaker = network.legs.get(leg_id)
            if speaker is None:
                continue
            for piece in speaker.saying:
                if piece.text is None:
                    continue
                end = piece.start + len(piece.pcm or b"") / BYTES_PER_SECOND
                for other in leg_ids:
                    listener = network.legs.get(other)
                    if listener is not None and listener is not speaker:
                        for tap in listener.taps:
                            tap.say(Voice(ROOM_TRACK, self.opened_at, end, piece.text))

    def close(self) -> None:
        if self not in self.network.rooms:
            return
        # What the phones are saying as they stop hearing each other: heard up to now.
        now = self.network.clock.monotonic()
        for leg_id in self.leg_ids:
            speaker = self.network.legs.get(leg_id)
            if speaker is None:
                continue
            for piece in speaker.saying:
                for other in self.leg_ids:
                    listener = self.network.legs.get(other)
                    if listener is not None and listener is not speaker:
                        first = max(piece.start, self.opened_at)
                        for tap in listener.taps:
                            tap.hear(piece, first, now, ROOM_TRACK)
        self.network.rooms.discard(self)


# Phones one account may configure over the API (issue 23: memory per account is bounded).
MAX_PHONES_PER_ACCOUNT = 1000


class PhoneLimitError(Exception):
    pass


class SimulatedNetwork:
    joins_legs = True

    def __init__(
        self,
        settings: SimulatorSettings,
        clock: Clock,
        activity: Activity,
        audio: AudioDurations | None = None,
        files: AudioFiles | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.activity = activity
        self.audio = audio or AudioDurations()
        # PlayAudio's whole file, decoded, only when a tap listens (the same SSRF policy).
        self.files = files or AudioFiles(destinations=self.audio.destinations)
        self.phrases = Phrases()
        # The file's phones ([[simulator.phones]]) answer every account's calls; a phone set
        # over the API belongs to the account that set it (issue 23): account -> number ->.
        self.phones: dict[str, PhoneBehaviour] = dict(settings.phones)
        self.account_phones: dict[str, dict[str, PhoneBehaviour]] = {}
        # Which account placed a call (by call id), for its phones; set by the server.
        self.account_of: Callable[[str], str | None] = lambda _call_id: None
        self.legs: dict[str, SimulatedLeg] = {}
        self.rooms: set[SimulatedRoom] = set()
        self.knows_speech = settings.transcription == "known"
        self.incoming: IncomingCalls | None = None

    def open_room(self, leg_ids: tuple[str, ...]) -> SimulatedRoom:
        return SimulatedRoom(self, leg_ids)

    def open_tap(self, leg_id: str, sink: TapSink) -> SimTap:
        """Listen to a leg (by its call id): see network/sim_audio.py for what is heard. A leg
        that is over (or unknown) gives a tap that hears nothing."""
        tap = SimTap(self.clock, sink, self.clock.monotonic())
        leg = self.legs.get(leg_id)
        if leg is None or leg.ended:
            tap.leg_ended()
        else:
            leg.tap_opened(tap)
        return tap

    def joined_with(self, leg_id: str) -> list[tuple[SimulatedLeg, float]]:
        """The legs in a room with this one, each with when they were joined."""
        joined = []
        for room in self.rooms:
            if leg_id in room.leg_ids:
                for other in room.leg_ids:
                    leg = self.legs.get(other)
                    if other != leg_id and leg is not None:
                        joined.append((leg, room.opened_at))
        return joined

    def behaviour_for(self, destination: str, account_id: str | None = None) -> PhoneBehaviour:
        """How the phone behaves on a call of `account_id`: as that account set it, else as
        the file configures it, else the default."""
        number = dialable(destination)
        if account_id is not None:
            own = self.account_phones.get(account_id)
            if own is not None and number in own:
                return own[number]
        return self.phones.get(number, self.settings.default)

    def set_phone(
        self, number: str, behaviour: PhoneBehaviour, account_id: str | None = None
    ) -> None:
        """`account_id` None: every account's phone (the file's). Raises PhoneLimitError past
        MAX_PHONES_PER_ACCOUNT numbers of one account."""
        number = dialable(number)
        if account_id is None:
            self.phones[number] = behaviour
            return
        own = self.account_phones.setdefault(account_id, {})
        if number not in own and len(own) >= MAX_PHONES_PER_ACCOUNT:
            raise PhoneLimitError(
                f"Account {account_id} has configured {len(own)} phones, the most it may"
            )
        own[number] = behaviour

    async def start(self, incoming: IncomingCalls | None = None) -> None:
        self.incoming = incoming  # virtual phones need no socket
        for scripted in self.settings.calls:
            self.clock.call_later(scripted.at, self._scripted_dialer(scripted))

    def _scripted_dialer(self, scripted: ScriptedCall) -> Callable[[], None]:
        async def dial() -> None:
            try:
                call_id = await self.dial(scripted.from_, scripted.to)
            except CallRefused as refused:
                logger.warning(
                    "scripted call from %s to %s refused: %s",
                    scripted.from_,
                    scripted.to,
                    refused.reason,
                )
            else:
                logger.info("scripted call %s from %s to %s", call_id, scripted.from_, scripted.to)

        def start() -> None:
            self.activity.spawn(dial())

        return start

    async def dial(
        self,
        from_: str,
        to: str,
        *,
        uui: str | None = None,
        diversion: dict[str, str] | None = None,
        account_id: str | None = None,
    ) -> str:
        """A virtual phone calls one of our numbers; it behaves as the `from_` phone is
        configured (digits, hangup_after). `uui` and `diversion` stand for the SIP headers a
        real caller may send; `account_id`, whose phones to use (the one asking). Returns the
        new callId or raises CallRefused."""
        if self.incoming is None:
            raise CallRefused("Switchboard is not taking calls", 503, "unavailable")
        behaviour = self.behaviour_for(from_, account_id)

        def open_leg(call_id: str, events: EventSink) -> SimulatedLeg:
            leg = SimulatedLeg(self, call_id, behaviour, events, inbound=True)
            self.legs[call_id] = leg
            return leg

        offer = InboundOffer(to=to, from_=from_, uui=uui, diversion=diversion)
        return await self.incoming(offer, open_leg)

    def originate(
        self,
        call_id: str,
        to: str,
        from_: str,
        events: EventSink,
        caller: CallerId = NO_CALLER_ID,  # a virtual phone shows no caller id
    ) -> SimulatedLeg:
        # The phone as the calling account set it ("{callId}/forward" legs are the call's).
        account_id = self.account_of(call_id.split("/", 1)[0])
        leg = SimulatedLeg(self, call_id, self.behaviour_for(to, account_id), events)
        self.legs[call_id] = leg
        leg.start()
        return leg

    async def close(self) -> None:
        await self.audio.close()
        await self.files.close()
