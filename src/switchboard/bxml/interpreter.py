"""The BXML interpreter: one call's verbs as a pure state machine, events in, actions out.

It does no IO and knows no clock: the engine plays what it is told, starts the timers it is asked
for, delivers callbacks, and feeds back what happened. Every transition is in the `_HANDLERS`
table at the bottom of this file; an event the current state does not list is ignored.

Where Bandwidth's docs are silent, Switchboard chooses:
- A callback that expects BXML (redirect, gather) answered with an empty body ends the document,
  and so the call, with cause `hangup`, like any end of BXML (bxml/about.mdx: "there is an
  implicit <Hangup> at the end of the document").
- <StartGather> stays on across documents (it is the call's, not the document's) until
  <StopGather> or the end of the call; a second <StartGather> replaces the first. It is paused
  while a <Gather> collects digits, so those digits are not also sent as dtmf events
  (startGather.mdx); it is live while a callback is awaited.
- A failed dtmf callback does not end the call (nothing waits for it); CallbackFailed is only
  heard while a BXML callback is awaited.
- New BXML (replace) interrupts the current verb: the prompt stops, timers are cancelled, and an
  interrupted <Gather> sends no gather event. The engine must drop the answers of callbacks it
  sent before a replace: they no longer have a verb to answer.
- <Gather input="dtmf_speech"> collects DTMF only (there is no speech recognition yet);
  <Gather input="speech"> could never hear anything, so it ends the call like an unsupported verb.
- On an unanswered inbound call (`answered=False`, BXML from the initiate event), <Ring> answers
  only if answerCall is true (ring.mdx); any other verb that plays media answers the call first;
  <Hangup> and an empty document leave it unanswered (they reject it, per hangup.mdx). Outbound
  calls run BXML from the answer event, already answered, so this never applies to them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from . import verbs as v
from .actions import (
    Action,
    AnswerCall,
    CancelTimer,
    DocumentEnded,
    Hangup,
    HangupCause,
    PauseCallRecording,
    ResumeCallRecording,
    RingTone,
    SendCallback,
    SendDigits,
    SetTag,
    Silence,
    StartBridge,
    StartCallRecording,
    StartForward,
    StartRecord,
    StartTimer,
    StartTransfer,
    StopBridge,
    StopCallRecording,
    StopMedia,
    StopRecord,
    StopTransfer,
    play_prompt,
)
from .events import (
    BridgeFinished,
    CallbackAnswered,
    CallbackFailed,
    DigitPressed,
    Event,
    MediaFinished,
    RecordFinished,
    RecordSilence,
    TimerFired,
    TransferFinished,
)
from .gather import GatherRun
from .verbs import Document


@dataclass(frozen=True, slots=True)
class RedirectRequest:
    """Where updateCall sends the call's `redirect` event (its redirect* fields)."""

    url: str
    method: str = "POST"
    fallback_url: str | None = None
    fallback_method: str = "POST"
    username: str | None = None
    password: str | None = None
    fallback_username: str | None = None
    fallback_password: str | None = None
    tag: str | None = None  # None keeps the tag; "" clears it


_DTMF_DIGITS = frozenset("0123456789*#ABCD")
RECORD_TIMER = "record-max-duration"


class State(Enum):
    IDLE = "idle"  # not started
    RUNNING = "running"  # executing verbs that finish at once; never seen between calls
    PLAYING = "playing"  # waiting for MediaFinished (speak, play, pause, ring, send dtmf)
    GATHERING = "gathering"  # a <Gather> runs
    TRANSFERRING = "transferring"  # a <Transfer> runs: its targets ring, or one is joined
    BRIDGING = "bridging"  # a <Bridge> runs: this call is joined to its target
    DONE = "done"  # out of verbs on a call that stays up (a transfer target, joined)
    FORWARDED = "forwarded"  # <Forward> ran: the app controls the call no more
    RECORDING = "recording"  # a <Record> records: digits, its maxDuration or silence end it
    RECORD_SAVING = "record-saving"  # the <Record> stopped; its file is being saved
    AWAITING_BXML = "awaiting-bxml"  # a redirect or gather callback is out
    ENDED = "ended"  # Hangup was returned; nothing more happens


class Interpreter:
    """Runs one call's BXML. `tag` is the call's tag so far; `answered` is False only for an
    inbound call that BXML may still answer or reject."""

    def __init__(
        self,
        document: Document,
        *,
        tag: str | None,
        answered: bool = True,
        hangup_at_end: bool = True,
    ) -> None:
        """`hangup_at_end` False: running out of verbs does not end the call (DocumentEnded;
        a transfer target's transferAnswer BXML, after which it is joined)."""
        self._document = document
        self._hangup_at_end = hangup_at_end
        self._transfer: v.Transfer | None = None
        self._bridge: v.Bridge | None = None
        self._record: v.Record | None = None
        self._next_verb = 0
        self._state = State.IDLE
        self._tag = tag or None
        self._answered = answered
        self._dtmf: v.StartGather | None = None
        self._gather: GatherRun | None = None
        self._gathers_started = 0

    @property
    def state(self) -> State:
        return self._state

    @property
    def document(self) -> Document:
        """The document the call is executing (or whose callback it awaits)."""
        return self._document

    @property
    def gathers_started(self) -> int:
        """How many <Gather>s have started listening so far (the engine tells the far end)."""
        return self._gathers_started

    @property
    def tag(self) -> str | None:
        """The tag that callbacks carry now (None: no tag, the field is left out)."""
        return self._tag

    @tag.setter
    def tag(self, tag: str | None) -> None:
        # For a tag set from outside the BXML (updateCall); "" clears it, as in BXML.
        self._tag = tag or None

    def start(self) -> list[Action]:
        """Run the document from its first verb."""
        if self._state is not State.IDLE:
            return []
        return self._run_from_start()

    def handle(self, event: Event) -> list[Action]:
        """React to an event; one that makes no sense now is ignored (returns [])."""
        handler = _HANDLERS[self._state].get(type(event))
        return handler(self, event) if handler else []

    def replace(self, document: Document) -> list[Action]:
        """New BXML arrived (a callback's answer, PUT .../bxml, updateCall's redirect): interrupt
        the current verb and run `document` from its first verb."""
        if self._state in (State.ENDED, State.FORWARDED):
            return []
        actions = self._interrupt()
        self._document = document
        return actions + self._run_from_start()

    def redirect(self, request: RedirectRequest) -> list[Action]:
        """updateCall with state=active: interrupt the current verb, send a `redirect` event to
        the given URL, and run the BXML it returns (like a <Redirect> verb from outside)."""
        if self._state in (State.ENDED, State.FORWARDED):
            return []
        actions = self._interrupt()
        if request.tag is not None:
            actions += self._change_tag(request.tag or None)
        callback = SendCallback(
            event_type="redirect",
            url=request.url,
            method=request.method,
            fallback_url=request.fallback_url,
            fallback_method=request.fallback_method,
            username=request.username,
            password=request.password,
            fallback_username=request.fallback_username,
            fallback_password=request.fallback_password,
            fields=self._fields(),
            expects_bxml=True,
        )
        self._state = State.AWAITING_BXML
        return [*actions, callback]

    # Running verbs.

    def _run_from_start(self) -> list[Action]:
        self._next_verb = 0
        self._state = State.RUNNING
        return self._run()

    def _run(self) -> list[Action]:
        actions: list[Action] = []
        while self._state is State.RUNNING:
            if self._next_verb >= len(self._document.verbs):
                if not self._hangup_at_end:
                    self._state = State.DONE
                    return [*actions, DocumentEnded()]
                return actions + self._end("hangup")
            verb = self._document.verbs[self._next_verb]
            self._next_verb += 1
            actions += self._execute(verb)
        return actions

    def _execute(self, verb: v.Verb) -> list[Action]:
        match verb:
            case v.SpeakSentence() | v.PlayAudio():
                return self._play([play_prompt(verb)])
            case v.Pause(duration=seconds):
                return self._play([Silence(seconds)])
            case v.Ring(duration=seconds, answer_call=answer_call):
                return self._play([RingTone(seconds)], answer=answer_call)
            case v.SendDtmf():
                return self._play([SendDigits(verb.digits, verb.tone_duration, verb.tone_interval)])
            case v.Tag(value=value):
                return self._change_tag(value)
            case v.StartGather():
                self._dtmf = verb
                return self._tag_attribute(verb.tag)
            case v.StopGather():
                self._dtmf = None
                return []
            case v.Redirect():
                return self._redirect(verb)
            case v.Gather():
                return self._start_gather(verb)
            case v.Hangup():
                return self._end("hangup")
            case v.Bridge():
                self._bridge = verb
                self._state = State.BRIDGING
                return self._tag_attribute(verb.tag) + self._answer() + [StartBridge(verb)]
            case v.Forward():
                self._state = State.FORWARDED
                return [StartForward(verb)]
            case v.Record():
                self._record = verb
                self._state = State.RECORDING
                return [
                    *self._tag_attribute(verb.tag),
                    *self._answer(),
                    StartRecord(verb),
                    StartTimer(RECORD_TIMER, verb.max_duration),
                ]
            case v.StartRecording():
                return [*self._tag_attribute(verb.tag), *self._answer(), StartCallRecording(verb)]
            case v.PauseRecording():
                return [PauseCallRecording()]
            case v.ResumeRecording():
                return [ResumeCallRecording()]
            case v.StopRecording():
                return [StopCallRecording()]
            case v.Transfer():
                self._transfer = verb
                self._state = State.TRANSFERRING
                return self._tag_attribute(verb.tag) + self._answer() + [StartTransfer(verb)]
            case v.UnsupportedVerb(name=name):
                message = f"Verb <{name}> is not supported by Switchboard yet"
                return self._end("application-error", message)

    def _play(self, media: list[Action], *, answer: bool = True) -> list[Action]:
        self._state = State.PLAYING
        return self._answer(answer) + media

    def _answer(self, answer: bool = True) -> list[Action]:
        if self._answered or not answer:
            return []
        self._answered = True
        return [AnswerCall()]

    def _redirect(self, verb: v.Redirect) -> list[Action]:
        # The verb is the same request as updateCall's redirect, from inside the document (the
        # interpreter is RUNNING here, so there is nothing to interrupt).
        return self.redirect(
            RedirectRequest(
                url=verb.redirect_url,
                method=verb.redirect_method,
                fallback_url=verb.redirect_fallback_url,
                fallback_method=verb.redirect_fallback_method,
                username=verb.username,
                password=verb.password,
                fallback_username=verb.fallback_username,
                fallback_password=verb.fallback_password,
                tag=verb.tag,
            )
        )

    def _start_gather(self, verb: v.Gather) -> list[Action]:
        actions = self._tag_attribute(verb.tag)
        if verb.input == "speech":
            message = 'Gather input="speech" is not supported by Switchboard yet'
            return actions + self._end("application-error", message)
        self._gathers_started += 1
        self._gather = GatherRun(verb, f"gather-{self._gathers_started}")
        self._state = State.GATHERING
        return actions + self._answer() + self._gather.start()

    def _after_gather_step(self, run: GatherRun, actions: list[Action]) -> list[Action]:
        if run.result is None:
            return actions
        self._gather = None
        verb = run.verb
        if verb.gather_url is None:
            # gather.mdx: without gatherUrl the digits are dropped and the document continues.
            self._state = State.RUNNING
            return actions + self._run()
        callback = SendCallback(
            event_type="gather",
            url=verb.gather_url,
            method=verb.gather_method,
            fallback_url=verb.gather_fallback_url,
            fallback_method=verb.gather_fallback_method,
            username=verb.username,
            password=verb.password,
            fallback_username=verb.fallback_username,
            fallback_password=verb.fallback_password,
            fields=self._fields(
                digits=run.result.digits, terminatingDigit=run.result.terminating_digit
            ),
            expects_bxml=True,
        )
        self._state = State.AWAITING_BXML
        return [*actions, callback]

    def _interrupt(self) -> list[Action]:
        if self._state is State.PLAYING:
            return [StopMedia()]
        if self._state is State.TRANSFERRING:
            self._transfer = None
            return [StopTransfer()]
        if self._state is State.BRIDGING:
            self._bridge = None
            return [StopBridge()]
        if self._state is State.RECORDING:
            self._record = None
            return [CancelTimer(RECORD_TIMER), StopRecord("interrupted")]
        if self._state is State.RECORD_SAVING:
            self._record = None  # its RecordFinished, when it comes, finds nothing to resume
        if self._state is State.GATHERING and self._gather is not None:
            actions = self._gather.interrupt()
            self._gather = None
            return actions
        return []

    def _end(self, cause: HangupCause, message: str | None = None) -> list[Action]:
        self._state = State.ENDED
        self._dtmf = None
        return [Hangup(cause, message)]

    # The tag.

    def _tag_attribute(self, value: str | None) -> list[Action]:
        # A verb's tag attribute: absent (None) keeps the tag, "" clears it.
        return [] if value is None else self._change_tag(value or None)

    def _change_tag(self, tag: str | None) -> list[Action]:
        if tag == self._tag:
            return []
        self._tag = tag
        return [SetTag(tag)]

    def _fields(self, **fields: object) -> dict[str, object]:
        if self._tag is not None:
            fields["tag"] = self._tag
        return fields

    # Event handlers, dispatched by the table below.

    def _on_media_finished(self, _event: MediaFinished) -> list[Action]:
        self._state = State.RUNNING
        return self._run()

    def _on_digit(self, event: DigitPressed) -> list[Action]:
        if event.digit not in _DTMF_DIGITS:
            return []
        if self._gather is not None:
            return self._after_gather_step(self._gather, self._gather.digit(event.digit))
        if self._dtmf is None:
            return []
        dtmf = self._dtmf
        return [
            SendCallback(
                event_type="dtmf",
                url=dtmf.dtmf_url,
                method=dtmf.dtmf_method,
                fallback_url=None,
                fallback_method="POST",
                username=dtmf.username,
                password=dtmf.password,
                fallback_username=None,
                fallback_password=None,
                fields=self._fields(digit=event.digit),
                expects_bxml=False,
            )
        ]

    def _on_gather_media_finished(self, _event: MediaFinished) -> list[Action]:
        assert self._gather is not None  # GATHERING always has a run
        return self._after_gather_step(self._gather, self._gather.media_finished())

    def _on_gather_timer(self, event: TimerFired) -> list[Action]:
        assert self._gather is not None
        return self._after_gather_step(self._gather, self._gather.timer_fired(event.timer_id))

    def _on_callback_answered(self, event: CallbackAnswered) -> list[Action]:
        if event.document is None:
            return self._end("hangup")
        self._document = event.document
        return self._run_from_start()

    def _on_callback_failed(self, event: CallbackFailed) -> list[Action]:
        return self._end(event.cause, event.message)

    def hang_up_at_end(self) -> None:
        """From now on, running out of verbs ends the call (a transfer target that left the
        transfer by new BXML is a call like any other)."""
        self._hangup_at_end = True

    def suspend(self) -> list[Action]:
        """Another call bridged this one (bridge.mdx: "any BXML being executed in it will be
        cancelled"): stop the current verb and run nothing until new BXML arrives."""
        if self._state is State.ENDED:
            return []
        actions = self._interrupt()
        self._state = State.DONE
        return actions

    def await_callback(self, callback: SendCallback) -> list[Action]:
        """Send a callback whose BXML this call runs next (bridgeTargetComplete)."""
        if self._state is State.ENDED:
            return []
        actions = self._interrupt()
        self._state = State.AWAITING_BXML
        return [*actions, callback]

    def fields(self, **fields: object) -> dict[str, object]:
        """An event's own fields plus the tag, for callbacks the engine builds."""
        return self._fields(**fields)

    def _stop_record(self, reason: str) -> list[Action]:
        self._state = State.RECORD_SAVING
        return [CancelTimer(RECORD_TIMER), StopRecord(reason)]

    def _on_record_digit(self, event: DigitPressed) -> list[Action]:
        record = self._record
        if record is None or event.digit not in record.terminating_digits:
            return []  # record.mdx: only the terminating digits end the recording
        return self._stop_record("digit")

    def _on_record_timer(self, event: TimerFired) -> list[Action]:
        return self._stop_record("max-duration") if event.timer_id == RECORD_TIMER else []

    def _on_record_silence(self, _event: RecordSilence) -> list[Action]:
        return self._stop_record("silence")

    def _on_record_finished(self, event: RecordFinished) -> list[Action]:
        verb, self._record = self._record, None
        if verb is None:
            return self._continue()
        # record.mdx: with recordCompleteUrl its BXML runs next; else the next verbs run.
        return self._complete(
            "recordComplete",
            verb.record_complete_url,
            verb.record_complete_method,
            verb.record_complete_fallback_url,
            verb.record_complete_fallback_method,
            verb,
            event.fields,
        )

    def _on_bridge_finished(self, event: BridgeFinished) -> list[Action]:
        verb, self._bridge = self._bridge, None
        if verb is None:
            return self._continue()
        return self._complete(
            "bridgeComplete",
            verb.bridge_complete_url,
            verb.bridge_complete_method,
            verb.bridge_complete_fallback_url,
            verb.bridge_complete_fallback_method,
            verb,
            {"cause": event.cause, "errorMessage": event.error_message, "errorId": event.error_id},
        )

    def _on_transfer_finished(self, event: TransferFinished) -> list[Action]:
        verb, self._transfer = self._transfer, None
        if verb is None:
            return self._continue()
        return self._complete(
            "transferComplete",
            verb.transfer_complete_url,
            verb.transfer_complete_method,
            verb.transfer_complete_fallback_url,
            verb.transfer_complete_fallback_method,
            verb,
            {
                "transferCallerId": event.transfer_caller_id,
                "transferTo": event.transfer_to,
                "cause": event.cause,
                "errorMessage": event.error_message,
                "errorId": event.error_id,
            },
        )

    def _continue(self) -> list[Action]:
        self._state = State.RUNNING
        return self._run()

    def _complete(
        self,
        event_type: str,
        url: str | None,
        method: str,
        fallback_url: str | None,
        fallback_method: str,
        credentials: v.Record | v.Bridge | v.Transfer,
        fields: dict[str, object],
    ) -> list[Action]:
        """The end of a verb that waited (Record, Bridge, Transfer): without its *CompleteUrl
        the verbs after it continue; with one, the callback goes out and the BXML it returns
        runs next ("verbs following ... will be ignored", their pages say)."""
        if url is None:
            return self._continue()
        self._state = State.AWAITING_BXML
        return [
            SendCallback(
                event_type=event_type,
                url=url,
                method=method,
                fallback_url=fallback_url,
                fallback_method=fallback_method,
                username=credentials.username,
                password=credentials.password,
                fallback_username=credentials.fallback_username,
                fallback_password=credentials.fallback_password,
                fields=self._fields(**fields),
                expects_bxml=True,
            )
        ]


_Handler = Callable[[Interpreter, Any], list[Action]]

# state -> event type -> handler. Everything that moves the interpreter between waiting states
# on an event is here; what is not listed is ignored.
_HANDLERS: dict[State, dict[type, _Handler]] = {
    State.IDLE: {},
    State.RUNNING: {},
    State.PLAYING: {
        MediaFinished: Interpreter._on_media_finished,
        DigitPressed: Interpreter._on_digit,
    },
    State.GATHERING: {
        MediaFinished: Interpreter._on_gather_media_finished,
        DigitPressed: Interpreter._on_digit,
        TimerFired: Interpreter._on_gather_timer,
    },
    State.AWAITING_BXML: {
        CallbackAnswered: Interpreter._on_callback_answered,
        CallbackFailed: Interpreter._on_callback_failed,
        DigitPressed: Interpreter._on_digit,
    },
    State.TRANSFERRING: {
        TransferFinished: Interpreter._on_transfer_finished,
    },
    State.BRIDGING: {
        BridgeFinished: Interpreter._on_bridge_finished,
    },
    State.DONE: {},
    State.FORWARDED: {},
    State.RECORDING: {
        DigitPressed: Interpreter._on_record_digit,
        TimerFired: Interpreter._on_record_timer,
        RecordSilence: Interpreter._on_record_silence,
    },
    State.RECORD_SAVING: {
        RecordFinished: Interpreter._on_record_finished,
    },
    State.ENDED: {},
}
