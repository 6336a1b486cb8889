"""The simulated phone network: virtual callees that answer, ring out, are busy, press keys and
hang up as configured, with media that takes its real duration on the engine's clock."""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Callable

from switchboard.activity import Activity
from switchboard.clock import Clock, TimerHandle
from switchboard.network.audio import AudioDurations, AudioError
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
    Tap,
    TapSink,
    TapsUnsupported,
)
from switchboard.network.phones import PhoneBehaviour, ScriptedCall, SimulatorSettings, dialable

logger = logging.getLogger("switchboard.network")
_WORD = re.compile(r"\w+")
_SSML_TAG = re.compile(r"<[^>]*>")
_BREAK_TIME = re.compile(
    r"""<break\b[^>]*?\btime\s*=\s*["']\s*(\d+(?:\.\d+)?)\s*(ms|s)\s*["']""", re.IGNORECASE
)
MIN_SPEECH_SECONDS = 0.5
MAX_BREAK_SECONDS = 10.0  # speakSentence.mdx: a <break> lasts at most 10 seconds


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
            self._emit(Digit(digit))

    # -- what Switchboard asks of the leg ---------------------------------------------------
    def speak(self, text: str, voice: str | None, gender: str | None, locale: str | None) -> None:
        self._play_for(speech_seconds(text, self.network.settings.words_per_minute))

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
                self._schedule_media_end(seconds, generation)

        self.network.activity.spawn(fetch_then_play())

    def silence(self, seconds: float) -> None:
        self._play_for(seconds)

    def ring(self, seconds: float) -> None:
        self._play_for(seconds)

    def send_dtmf(self, digits: str, tone_ms: float, interval_ms: float) -> None:
        self._play_for(dtmf_seconds(digits, tone_ms, interval_ms))

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
        # The timers' callbacks point back at this leg: dropped, so that reference counting
        # frees an ended leg (switchboard/collector.py).
        self._timers.clear()
        self.network.legs.pop(self.call_id, None)

    # -- plumbing ---------------------------------------------------------------------------
    def _play_for(self, seconds: float) -> None:
        self._schedule_media_end(seconds, self._new_media())

    def _new_media(self) -> int:
        """Cancel whatever media is playing; return the id of the next one."""
        if self._media_timer is not None:
            self._media_timer.cancel()
            self._media_timer = None
        self._media_generation += 1
        return self._media_generation

    def _schedule_media_end(self, seconds: float, generation: int) -> None:
        def finished() -> None:
            if generation == self._media_generation and not self.ended:
                self._media_timer = None
                self._emit(MediaFinished(generation))

        self._media_timer = self.network.clock.call_later(seconds, finished)

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
        network.rooms.add(self)

    def close(self) -> None:
        self.network.rooms.discard(self)


class SimulatedNetwork:
    joins_legs = True

    def __init__(
        self,
        settings: SimulatorSettings,
        clock: Clock,
        activity: Activity,
        audio: AudioDurations | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.activity = activity
        self.audio = audio or AudioDurations()
        self.phones: dict[str, PhoneBehaviour] = dict(settings.phones)
        self.legs: dict[str, SimulatedLeg] = {}
        self.rooms: set[SimulatedRoom] = set()
        self.incoming: IncomingCalls | None = None

    def open_room(self, leg_ids: tuple[str, ...]) -> SimulatedRoom:
        return SimulatedRoom(self, leg_ids)

    def open_tap(self, leg_id: str, sink: TapSink) -> Tap:
        # Rendering the phones' and Switchboard's audio is issue 13's next step.
        raise TapsUnsupported("the simulated network cannot give a leg's audio yet")

    def behaviour_for(self, destination: str) -> PhoneBehaviour:
        return self.phones.get(dialable(destination), self.settings.default)

    def set_phone(self, number: str, behaviour: PhoneBehaviour) -> None:
        self.phones[dialable(number)] = behaviour

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
    ) -> str:
        """A virtual phone calls one of our numbers; it behaves as the `from_` phone is
        configured (digits, hangup_after). `uui` and `diversion` stand for the SIP headers a
        real caller may send. Returns the new callId or raises CallRefused."""
        if self.incoming is None:
            raise CallRefused("Switchboard is not taking calls", 503, "unavailable")
        behaviour = self.behaviour_for(from_)

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
        leg = SimulatedLeg(self, call_id, self.behaviour_for(to), events)
        self.legs[call_id] = leg
        leg.start()
        return leg

    async def close(self) -> None:
        await self.audio.close()
