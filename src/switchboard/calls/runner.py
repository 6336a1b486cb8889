"""One call's life in the engine: its event queue, its leg, its interpreter, its end.

CallRunner is the call's actor (DESIGN.md, "Calls with many legs"). This module holds its core:
the mailbox loop, the call's own leg, the BXML it runs and how the call ends. Its roles live
beside it, each a class CallRunner inherits: calls/runner_legs.py (transfers, bridges, forwards
and their rooms), calls/runner_recording.py (recordings) and calls/runner_webhooks.py (what the
call owes its application); what it is given and sent is in calls/runner_messages.py."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from switchboard.bxml import BxmlError, Interpreter, parse_bxml
from switchboard.bxml import actions as act
from switchboard.bxml import events as bxml_events
from switchboard.bxml.interpreter import RedirectRequest
from switchboard.bxml.interpreter import State as InterpreterState
from switchboard.bxml.verbs import Bridge as BridgeVerb
from switchboard.bxml.verbs import Document
from switchboard.calls import bridge, state, transfer
from switchboard.calls.model import ANSWERED, DISCONNECTED, INITIATED, QUEUED, Call
from switchboard.calls.runner_legs import RING_START_LIMIT, LegsRole
from switchboard.calls.runner_messages import (
    AnswerTimeout,
    BridgeRequest,
    CallbackDone,
    EngineServices,
    ExternalRedirect,
    ForwardLegEvent,
    ForwardTimeout,
    InterpreterTimer,
    Joined,
    Mailbox,
    NewBxml,
    OwnerLeft,
    RecordingState,
    RunnerEvent,
    SilenceCheck,
    TagUpdate,
    TransferGo,
    VoiceHeard,
    _id,
)
from switchboard.calls.runner_recording import RecordingRole, speech_engine
from switchboard.calls.runner_webhooks import WebhooksRole
from switchboard.calls.timeline import Timeline
from switchboard.calls.transfer_targets import parent_of
from switchboard.clock import Clock, TimerHandle
from switchboard.limits.call_bounds import LOOP_CAUSE, LoopGuard
from switchboard.network import base as net
from switchboard.recordings import active as rec
from switchboard.store.base import Fenced
from switchboard.webhooks import payloads
from switchboard.webhooks.outbox import OutboxEntry
from switchboard.webhooks.request import Failure

# What other modules import from here (some of it defined in runner_messages and runner_recording).
__all__ = [
    "CallRunner",
    "EngineServices",
    "ExternalRedirect",
    "NewBxml",
    "RecordingState",
    "RunnerEvent",
    "TagUpdate",
    "speech_engine",
]

logger = logging.getLogger("switchboard.engine")

MAX_BXML_KB = 64


class CallRunner(LegsRole, RecordingRole, WebhooksRole):
    def __init__(
        self,
        call: Call,
        services: EngineServices,
        *,
        dial: bool = True,
        inbound: bool = False,
        last_timeline_sequence: int = 0,
    ) -> None:
        self.call = call
        self._inbound = inbound  # a new inbound call: send `initiate` first
        self.services = services
        self.queue: Mailbox[RunnerEvent] = Mailbox()
        self.task: asyncio.Task[None] | None = None
        self.timeline = Timeline(
            call.call_id,
            last_timeline_sequence,
            services.feed.listener(call.account_id, call.call_id) if services.feed else None,
            max_entries=services.bounds.timeline_max_entries,
        )
        self._loop_guard = LoopGuard(services.bounds)
        self.leg: net.Leg | None = None
        self.leg_ended = False
        self._abandoned = False  # another node took the call over (see abandon)
        self.interpreter: Interpreter | None = None
        self.gathers_announced = 0
        self._media: str | None = None  # the verb whose media is playing, for the timeline
        self._gathering = False
        self._dial = dial
        self._busy = True  # until the runner first waits for an event
        self._answer_timer: TimerHandle | None = None
        self._timers: dict[str, TimerHandle] = {}
        self._bxml_token = 0  # the BXML callback whose answer we wait for
        self.sip_response_code: int | None = None  # the code that refused the INVITE, if any
        # A <Transfer> this call runs (it owns the relationship), and whom it rings.
        self.transfer: transfer.Transfer | None = None
        self._transfer_to: dict[str, str] = {}  # target callId -> its destination
        self._transfer_caller_id: str | None = None
        # This call is a transfer target: the call that rang it.
        self.parent_call_id = parent_of(call)
        self._left_transfer = False
        # A <Bridge> this call runs (it owns it), or the call that bridged this one.
        self.bridge: bridge.Bridge | None = None
        self.bridged_to: tuple[str, BridgeVerb] | None = None
        # <Forward>'s second leg of this call (it has no callId of its own).
        self.forward_leg: net.Leg | None = None
        self._forward_answered = False
        self._forward_call_timeout = 30.0
        self._forward_timer: TimerHandle | None = None
        # Its recordings: the <Record> verb's, and the call's (<StartRecording>), one of each.
        self.record: rec.ActiveRecording | None = None
        self.call_recording: rec.ActiveRecording | None = None
        self._silence_timer: TimerHandle | None = None
        # The room this call opened and owns (a transfer's, bridge's or forward's join).
        self.room: net.Room | None = None

    # -- plumbing ---------------------------------------------------------------------------
    @property
    def quiet(self) -> bool:
        return not self._busy and not self.queue

    def post(self, event: RunnerEvent) -> None:
        self.queue.put(event)

    @property
    def clock(self) -> Clock:
        return self.services.clock

    def note(self, kind: str, **data: Any) -> None:
        self.timeline.add(self.clock.wall(), kind, **data)

    async def run(self) -> None:
        try:
            if self._dial:
                await self._place_call()
            elif self._inbound:
                await self._initiate()
            while self.call.state != DISCONNECTED:
                self._busy = False
                event = await self.queue.get()
                self._busy = True
                await self._handle(event)
        except asyncio.CancelledError:
            raise
        except Fenced:
            self._abandon_quietly()
        except Exception as error:  # a bug must end this call, never the engine
            logger.exception("call %s failed inside Switchboard", self.call.call_id)
            if self.call.state != DISCONNECTED:
                try:
                    await self._end(
                        state.End("error", f"Switchboard internal error: {error}", _id())
                    )
                except Fenced:
                    self._abandon_quietly()
        finally:
            self._cancel_timers()
            if not self._abandoned:
                await self._flush_timeline()
            self._busy = False
            self.services.finished(self.call.call_id)
            # Nobody reads this mailbox any more: a call that asked to bridge this one must
            # not wait forever for the answer.
            for leftover in self.queue:
                if isinstance(leftover, BridgeRequest):
                    self.services.post(
                        leftover.owner,
                        bridge.Refused(self.call.call_id, self._bridge_gone_reason()),
                    )
            self._let_go()

    def abandon(self) -> None:
        """Another node owns this call now (this one lost its lease): hang up its leg and stop,
        writing and sending nothing more."""
        self._abandon_quietly()
        if self.task is not None:
            self.task.cancel()

    def _abandon_quietly(self) -> None:
        if not self._abandoned:
            logger.warning(
                "call %s: this node lost its lease; the node that took the call over ends it",
                self.call.call_id,
            )
        self._abandoned = True
        if self.leg is not None:
            self.leg.hangup()

    def _let_go(self) -> None:
        """Drop what ties this finished runner into reference cycles (its leg's event sink is
        `self.post`; its timers and interpreter point back at it), so that reference counting
        frees the call at once. The garbage collector never has to find it, which is what lets
        the server freeze live objects out of collections (switchboard/collector.py)."""
        self.leg = None
        self.forward_leg = None
        self.room = None
        self.interpreter = None
        self.task = None
        self._answer_timer = None
        self._timers.clear()

    async def _flush_timeline(self) -> None:
        entries = self.timeline.take()
        if entries:
            await self.services.store.append_timeline(self.call.call_id, entries)

    async def _save(self, event: OutboxEntry | None = None) -> int | None:
        """The call's new state, its new timeline entries and the event it now owes: one
        durable write."""
        return await self.services.store.save_call(self.call, self.timeline.take(), event)

    async def _transition(self, event: state.Dial | state.Answer | state.End) -> None:
        self.call = state.advance(self.call, event, self.clock.wall())
        self.note("state", state=self.call.state)

    # -- the call's life --------------------------------------------------------------------
    async def _place_call(self) -> None:
        if self.call.state == QUEUED:  # it waited in its account's queue
            await self._transition(state.Dial())
            await self._save()
        else:  # started at once: stored initiated by the insert (CallService.create)
            self.timeline.add(self.call.start_time or self.clock.wall(), "state", state=INITIATED)
        request = self.call.request
        diversion = self.call.extra.get("diversion_header")
        caller = net.CallerId(
            request.display_name,
            bool(request.privacy),
            request.uui,
            diversion if isinstance(diversion, str) else None,
        )
        self.leg = self.services.network.originate(
            self.call.call_id, request.to, request.from_, self.post, caller
        )
        if not any(type(event) is net.Ringing for event in self.queue):
            # (The simulated network reports ringing at once: no limit to set and cancel.)
            self._answer_timer = self.clock.call_later(
                RING_START_LIMIT, lambda: self.post(AnswerTimeout())
            )

    async def _handle(self, event: RunnerEvent) -> None:
        match event:
            case net.Ringing():
                self.note("network", event="ringing")
                if self._answer_timer is not None:
                    self._answer_timer.cancel()
                self._answer_timer = self.clock.call_later(
                    float(self.call.request.call_timeout), lambda: self.post(AnswerTimeout())
                )
            case net.Answered():
                await self._answered()
            case net.Busy(sip_code=code):
                # disconnect.mdx's example of a busy callee carries a message and an id.
                self.sip_response_code = code
                await self._leg_gone("busy", "Callee is busy")
            case net.Rejected(sip_code=code):
                self.sip_response_code = code
                await self._leg_gone("rejected")
            case net.NoAnswer(sip_code=code):
                self.sip_response_code = code
                await self._leg_gone("timeout")
            case net.Failed(reason=reason, sip_code=code):
                self.leg_ended = True
                self.sip_response_code = code
                what = "failed" if self.call.direction == "inbound" else "could not be placed"
                message = f"The call {what}: {reason}" + (f" (SIP {code})" if code else "")
                await self._end(state.End("error", message, _id()))
            case net.RemoteHangup():
                # A caller who gives up before we answer cancels the call (disconnect.mdx:
                # "cancelled by its originator while it was ringing").
                ringing_in = self.call.direction == "inbound" and self.call.state == INITIATED
                await self._leg_gone("cancel" if ringing_in else "hangup")
            case AnswerTimeout():
                if self.call.state != "answered":
                    self.note(
                        "network", event="no-answer", callTimeout=self.call.request.call_timeout
                    )
                    await self._end(state.End("timeout"))
            case net.Digit(digit=digit):
                self.note("dtmf", digit=digit)
                await self._interpret(bxml_events.DigitPressed(digit))
            case (
                net.MediaFinished(generation=generation) | net.MediaFailed(generation=generation)
            ) if self.leg is not None and generation != self.leg.media_generation:
                pass  # the end of media a newer request already replaced: not the newer's end
            case net.MediaFinished():
                self._media_over("finished")
                await self._interpret(bxml_events.MediaFinished())
            case net.MediaFailed(cause=cause, message=message):
                self._media_over("failed")
                await self._end(state.End(cause, message, _id()))
            case InterpreterTimer(timer_id=timer_id):
                if self._timers.pop(timer_id, None) is not None:
                    await self._interpret(bxml_events.TimerFired(timer_id))
            case CallbackDone():
                await self._callback_done(event)
            case NewBxml(document=document):
                await self._new_bxml(document)
            case ExternalRedirect(request=request):
                await self._external_redirect(request)
            case transfer.TargetAnswered() | transfer.TargetReady() | transfer.TargetEnded():
                await self._transfer_step(event)
            case Joined(peer=peer):
                self.note("transfer", event="joined", callId=peer)
            case TransferGo():
                await self._transfer_go()
            case VoiceHeard(voice=voice):
                for active in (self.record, self.call_recording):
                    if active is not None and voice.text:
                        # What was said, for a known-text transcript. Only segments with
                        # words: SIP's voice detector reports each one ~10 times a second.
                        active.voices.append(voice)
                if self.record is not None and voice.track == "inbound":
                    self.record.last_voice_end = max(self.record.last_voice_end, voice.end)
            case SilenceCheck():
                await self._check_silence()
            case RecordingState(state=recording_state):
                self._pause_or_resume(recording_state == "paused", by="PUT /recording")
            case ForwardLegEvent(event=leg_event):
                await self._forward_leg_event(leg_event)
            case ForwardTimeout():
                if self.forward_leg is not None and not self._forward_answered:
                    self.note("forward", event="no-answer")
                    await self._end(state.End("timeout"))
            case BridgeRequest():
                await self._bridge_requested(event)
            case OwnerLeft(owner=owner):
                await self._owner_left(owner)
            case bridge.Accepted() | bridge.Refused() | bridge.PeerLeft():
                await self._bridge_step(event)
            case TagUpdate(tag=tag):
                self.call = self.call.evolve(tag=tag or None)
                if self.interpreter is not None:
                    self.interpreter.tag = tag or None
                self.note("tag", tag=tag or None, by="updateCall")
            case state.End():
                await self._end(event)

    async def _new_bxml(self, document: Document) -> None:
        """PUT .../bxml: the document replaces whatever the call is executing."""
        if self.call.state != ANSWERED:
            return
        self._bxml_token += 1  # answers to callbacks sent before are now moot
        self._leave_bridge_as_target()
        self._leave_transfer_as_target()
        unset = document.none_attributes_note() or {}  # bandwidth-sdk 15-16's "None"s
        self.note("bxml", source="PUT /bxml", verbs=len(document.verbs), **unset)
        if self.interpreter is None:
            self.interpreter = Interpreter(document, tag=self.call.tag)
            await self._carry_out(self.interpreter.start())
        else:
            await self._carry_out(self.interpreter.replace(document), interrupted=True)

    async def _external_redirect(self, request: RedirectRequest) -> None:
        if self.call.state != ANSWERED:
            return
        if self.interpreter is None:  # the answer callback is still out: it no longer counts
            self.interpreter = Interpreter(Document(verbs=()), tag=self.call.tag)
        self.note("redirect", url=request.url, by="updateCall")
        self._leave_bridge_as_target()
        self._leave_transfer_as_target()
        await self._carry_out(self.interpreter.redirect(request), interrupted=True)

    async def _leg_gone(self, cause: str, message: str | None = None) -> None:
        self.leg_ended = True
        self.note("network", event=cause)
        await self._end(state.End(cause, message, _id() if message else None))

    async def _answered(self) -> None:
        if self._answer_timer is not None:
            self._answer_timer.cancel()
        self.note("network", event="answered")
        await self._transition(state.Answer())
        if self.parent_call_id is not None:
            await self._target_answered(self.parent_call_id)
            return
        payload = payloads.answer_payload(self.call, self.clock.wall())
        await self._first_callback("answer", payload)

    async def _initiate(self) -> None:
        """A new inbound call rings us: the application hears of it (initiate.mdx) and its BXML
        decides whether and when to answer."""
        self.timeline.add(self.call.start_time or self.clock.wall(), "state", state=INITIATED)
        self.note("network", event="incoming", **{"from": self.call.request.from_})
        payload = payloads.initiate_payload(self.call, self.clock.wall())
        await self._first_callback("initiate", payload)

    async def _answer_inbound(self) -> None:
        """A verb that answers an inbound call is about to run (interpreter's AnswerCall)."""
        if self.call.state != INITIATED:
            return
        if self.leg is not None:
            self.leg.answer()  # type: ignore[attr-defined]
        self.note("network", event="answered")
        await self._transition(state.Answer())
        await self._save()

    # -- BXML -------------------------------------------------------------------------------
    async def _callback_done(self, event: CallbackDone) -> None:
        self._record_delivery(event.event_type, event.result, event.payload)
        if not event.expects_bxml or event.token != self._bxml_token:
            return
        if self.call.state == DISCONNECTED:
            return
        final = event.result.final
        if final.failure is Failure.BODY_TOO_LARGE:
            # The app answered, with a document too big to be BXML Switchboard will run.
            await self._bxml_failed(
                "invalid-bxml",
                f"Invalid BXML from {final.url} ({event.event_type}): the document is over "
                f"{MAX_BXML_KB} KB; Switchboard stopped reading it there",
            )
            return
        if not event.result.ok:
            message = f"The {event.event_type} callback failed: " + "; ".join(
                a.error or f"{a.url} answered HTTP {a.status}" for a in event.result.attempts
            )
            await self._bxml_failed("callback-error", message)
            return
        try:
            document = _parse_cached(final.body, final.url) if final.body.strip() else None
        except BxmlError as error:
            await self._bxml_failed(
                "invalid-bxml",
                f"Invalid BXML from {final.url} ({event.event_type}): {error}"
                + _content_type_hint(final.content_type),
            )
            return
        if self._loop_guard.fetched(self.clock.monotonic()):  # a Redirect to itself, say
            await self._end(state.End(LOOP_CAUSE, self._loop_guard.description(), _id()))
            return
        unset = document.none_attributes_note() if document else None
        if unset:  # attributes bandwidth-sdk 15-16 wrote as "None": tell the app's author
            self.note("bxml", source=event.event_type, **unset)
        if self.interpreter is None:
            self.interpreter = Interpreter(
                document or _parse_cached(b"<Response/>", None),
                tag=self.call.tag,
                answered=self.call.state == ANSWERED,  # False: an inbound call still ringing
                # A transfer target's BXML ends in the join, not in a hangup.
                hangup_at_end=self.parent_call_id is None,
            )
            await self._carry_out(self.interpreter.start())
        else:
            await self._interpret(bxml_events.CallbackAnswered(document))

    async def _bxml_failed(self, cause: str, message: str) -> None:
        # No timeline entry here: the call ends, and _end records the error once.
        if self.interpreter is None:
            await self._end(state.End(cause, message, _id()))
        else:
            await self._interpret(bxml_events.CallbackFailed(cause, message))  # type: ignore[arg-type]

    async def _interpret(self, event: bxml_events.Event) -> None:
        if self.interpreter is None or self.call.state == DISCONNECTED:
            return
        await self._carry_out(self.interpreter.handle(event))

    async def _carry_out(self, actions: list[act.Action], *, interrupted: bool = False) -> None:
        """Carry out the interpreter's actions. `interrupted`: they come from outside the
        document (updateCall, PUT /bxml), so a Gather they end was stopped, not finished."""
        leg = self.leg
        gather_end = "stopped" if interrupted else "finished"
        interpreter = self.interpreter
        # A Gather that began in this batch is noted before its first prompt or timer, so the
        # timeline reads in the order the caller hears things.
        new_gather = interpreter is not None and (
            interpreter.gathers_started > self.gathers_announced
        )
        # The open Gather ended in this batch: it is over once its own clean-up (stopping its
        # prompt, cancelling its timer) is done and the next verb begins.
        gather_ending = self._gathering and (
            new_gather
            or (interpreter is not None and interpreter.state is not InterpreterState.GATHERING)
        )
        for action in actions:
            if self.call.state == DISCONNECTED:
                return
            if gather_ending and not isinstance(action, act.StopMedia | act.CancelTimer):
                self._gather_over(gather_end)
                gather_ending = False
            if new_gather and isinstance(action, act.Speak | act.Play | act.StartTimer):
                self._gather_began()
                new_gather = False
            if isinstance(action, _TAKES_TIME):
                self._loop_guard.took_time()
            match action:
                case act.Speak():
                    self._media_began(
                        "SpeakSentence",
                        text=action.plain_text,
                        voice=action.voice,
                        locale=action.locale,
                    )
                    if leg:
                        leg.speak(action.text, action.voice, action.gender, action.locale)
                case act.Play():
                    self._media_began("PlayAudio", url=action.url)
                    if leg:
                        leg.play(action.url, action.username, action.password)
                case act.Silence(seconds=seconds):
                    self._media_began("Pause", duration=seconds)
                    if leg:
                        leg.silence(seconds)
                case act.RingTone(seconds=seconds):
                    self._media_began("Ring", duration=seconds)
                    if leg and self.call.state == INITIATED:
                        # <Ring answerCall="false">: the caller hears it before any answer.
                        leg.early_media()  # type: ignore[attr-defined]
                    if leg:
                        leg.ring(seconds)
                case act.SendDigits():
                    self._media_began("SendDtmf", digits=action.digits)
                    if leg:
                        leg.send_dtmf(
                            action.digits, action.tone_duration_ms, action.tone_interval_ms
                        )
                case act.StopMedia():
                    self._media_over("stopped")
                    if leg:
                        leg.stop_media()
                case act.StartTimer(timer_id=timer_id, seconds=seconds):
                    self._timers[timer_id] = self.clock.call_later(
                        seconds, self._timer_poster(timer_id)
                    )
                case act.CancelTimer(timer_id=timer_id):
                    handle = self._timers.pop(timer_id, None)
                    if handle:
                        handle.cancel()
                case act.SetTag(tag=tag):
                    self.call = self.call.evolve(tag=tag)
                    self.note("tag", tag=tag)
                case act.SendCallback():
                    await self._send_callback(action)
                case act.Hangup(cause=cause, error_message=message):
                    error_id = _id() if cause != "hangup" else None
                    await self._end(state.End(cause, message, error_id))
                case act.AnswerCall():
                    await self._answer_inbound()  # outbound calls are answered already
                case act.StartTransfer(verb=verb):
                    await self._start_transfer(verb)
                case act.StopTransfer():
                    self._abandon_transfer()
                case act.StartBridge(verb=verb):
                    await self._start_bridge(verb)
                case act.StopBridge():
                    self._leave_bridge()
                case act.StartForward(verb=verb):
                    await self._start_forward(verb)
                case act.StartRecord(verb=verb):
                    await self._start_recording(verb)
                case act.StopRecord(reason=reason):
                    await self._stop_record(reason)
                case act.StartCallRecording(verb=verb):
                    if self.call_recording is not None:
                        # startRecording.mdx: a second one is ignored while one is active.
                        self.note("recording", event="ignored", reason="one is already active")
                    else:
                        await self._start_recording(verb)
                case act.PauseCallRecording():
                    self._pause_or_resume(True, by="PauseRecording")
                case act.ResumeCallRecording():
                    self._pause_or_resume(False, by="ResumeRecording")
                case act.StopCallRecording():
                    recording = self.call_recording
                    self.call_recording = None
                    if recording is not None:
                        await self._save_recording(recording)
                case act.DocumentEnded():
                    if self.parent_call_id is not None:
                        self.services.post(
                            self.parent_call_id, transfer.TargetReady(self.call.call_id)
                        )
        if gather_ending:
            self._gather_over(gather_end)
        if new_gather:
            self._gather_began()

    def _timer_poster(self, timer_id: str) -> Callable[[], None]:
        return lambda: self.post(InterpreterTimer(timer_id))

    # -- what the timeline says of verbs ----------------------------------------------------
    def _media_began(self, verb: str, **data: Any) -> None:
        self._media_over("stopped")  # never two at once; the contract says this can't happen
        # `event` last: `switchboard calls show` prints a verb's details in this order.
        self.note("verb", verb=verb, **data, event="started")
        self._media = verb

    def _media_over(self, how: str) -> None:
        """The verb playing media finished, was stopped, or failed."""
        if self._media is not None:
            self.note("verb", verb=self._media, event=how)
            self._media = None

    def _gather_began(self) -> None:
        interpreter = self.interpreter
        if interpreter is None or interpreter.gathers_started <= self.gathers_announced:
            return
        self._gather_over()
        self.gathers_announced = interpreter.gathers_started
        self.note("verb", verb="Gather", event="started")
        self._gathering = True
        if self.leg is not None:
            self.leg.gather_started()  # a simulated callee may press its keys now

    def _gather_over(self, how: str = "finished") -> None:
        if self._gathering:
            self._gathering = False
            self.note("verb", verb="Gather", event=how)

    # -- the end ----------------------------------------------------------------------------
    async def _end(self, end: state.End) -> None:
        if self.call.state == DISCONNECTED:
            return
        self._cancel_timers()
        self._media_over("stopped")
        self._gather_over("stopped")
        if self.leg is not None and not self.leg_ended:
            self.leg.hangup()
            self.leg_ended = True
        self._close_room()
        self._finish_recordings_at_end()
        if self.forward_leg is not None:
            self.forward_leg.hangup()
        self._abandon_transfer()
        self._leave_bridge()
        self._leave_bridge_as_target()
        if end.error_message:
            self.note("error", cause=end.cause, message=end.error_message)
        await self._transition(end)
        disconnect = self._disconnect_event()
        entry_id = await self._save(disconnect)  # the call's end and the event it owes, at once
        if self.parent_call_id is not None:  # written first, then told (DESIGN.md)
            self.services.post(
                self.parent_call_id,
                transfer.TargetEnded(self.call.call_id, end.cause, end.error_message, end.error_id),
            )
        if disconnect is not None:
            # In the background: the call is over and frees its place under the account's
            # limits now, however long the receiver (and the retry policy) take.
            self.services.activity.spawn(self._deliver_disconnect(replace(disconnect, id=entry_id)))

    def _cancel_timers(self) -> None:
        if self._silence_timer is not None:
            self._silence_timer.cancel()
            self._silence_timer = None
        if self._forward_timer is not None:
            self._forward_timer.cancel()
            self._forward_timer = None
        if self._answer_timer is not None:
            self._answer_timer.cancel()
            self._answer_timer = None
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()


# Verbs that take the caller's time: BXML documents fetched with one of these between them
# are no loop, however many.
_TAKES_TIME = (
    act.Speak,
    act.Play,
    act.Silence,
    act.RingTone,
    act.StartTimer,
    act.StartTransfer,
    act.StartBridge,
    act.StartForward,
    act.StartRecord,
)


def _content_type_hint(content_type: str | None) -> str:
    """A word on what the app sent when it was not XML (an HTML error page, JSON...)."""
    if not content_type or "xml" in content_type.lower():
        return ""
    return f" (the answer's Content-Type was {content_type}; BXML is XML)"


# Parsed BXML by (response body, the URL that served it): applications answer the same
# callback with the same document over and over, and parsing was a tenth of the engine's CPU.
# Documents are frozen, so runners share them. Only small bodies are kept, and only those
# that parsed: an invalid document is parsed again, and raises again, each time.
BXML_CACHE_SIZE = 512
BXML_CACHE_MAX_BODY = 8 * 1024
_bxml_cache: dict[tuple[bytes, str | None], Document] = {}


def _parse_cached(body: bytes, base_url: str | None) -> Document:
    if len(body) > BXML_CACHE_MAX_BODY:
        return parse_bxml(body, base_url=base_url)
    key = (body, base_url)
    document = _bxml_cache.pop(key, None)
    if document is None:
        document = parse_bxml(body, base_url=base_url)
        if len(_bxml_cache) >= BXML_CACHE_SIZE:
            del _bxml_cache[next(iter(_bxml_cache))]  # the least recently used
    _bxml_cache[key] = document  # last in the dict: the most recently used
    return document
