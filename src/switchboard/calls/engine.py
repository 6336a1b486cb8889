"""The engine: drives every live call through the network, its BXML and its webhooks.

One `CallRunner` per call, each an asyncio task reading its own queue of events (network
events, timers, webhook results, API commands), so a call's events are handled one at a time
in order while thousands of calls run side by side. The decisions are made by the pure cores
(calls/state.py, bxml/interpreter.py); this module only carries out their actions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Protocol

from switchboard.activity import Activity
from switchboard.bxml.interpreter import RedirectRequest
from switchboard.bxml.verbs import Document, Transfer
from switchboard.calls.feed import CallFeed
from switchboard.calls.ids import format_time, new_call_id
from switchboard.calls.model import ANSWERED, DISCONNECTED, INITIATED, QUEUED, Call
from switchboard.calls.runner import (
    CallRunner,
    EngineServices,
    ExternalRedirect,
    NewBxml,
    RecordingState,
    RunnerEvent,
    TagUpdate,
    speech_engine,
)
from switchboard.calls.state import End
from switchboard.calls.transfer_targets import target_call
from switchboard.calls.update_request import UpdateCallRequest
from switchboard.clock import Clock, TimerHandle
from switchboard.errors import ConflictError, OverloadedError, RateLimitError
from switchboard.limits.account import AccountLimiter, Decision, LimitSettings
from switchboard.limits.call_bounds import CallBounds
from switchboard.limits.overload import CAUSE as NODE_CAPACITY_EXCEEDED
from switchboard.limits.overload import OverloadGate, OverloadSettings, Refusal
from switchboard.limits.overload_probe import OverloadProbe
from switchboard.network.base import IncomingCalls, Network, OpenLeg
from switchboard.recordings.model import Recording
from switchboard.recordings.storage import MediaStorage
from switchboard.recordings.store import RecordingStore
from switchboard.recordings.transcription import available_payload, decode_media, transcribe
from switchboard.store.base import Fenced, Store
from switchboard.webhooks.delivery import WebhookSender
from switchboard.webhooks.dispatch import Dispatcher
from switchboard.webhooks.outbox import ABANDONED, OutboxEntry, RetryPolicy
from switchboard.webhooks.request import WebhookRequest

logger = logging.getLogger("switchboard.engine")


class SharedQueue(Protocol):
    async def take_queued_turn(
        self, account_id: str, limits: LimitSettings, local_ids: Sequence[str]
    ) -> tuple[Call | None, list[str], float]: ...


PURGE_INTERVAL_SECONDS = 3600.0
SHARED_QUEUE_RECHECK_SECONDS = 0.5


class Engine:
    def __init__(
        self,
        store: Store,
        network: Network,
        sender: WebhookSender,
        clock: Clock,
        activity: Activity | None = None,
        limits_for: Callable[[str], LimitSettings] | None = None,
        retention: timedelta | None = None,
        retry_policy: RetryPolicy | None = None,
        recordings: tuple[RecordingStore, MediaStorage] | None = None,
        bounds: CallBounds | None = None,
        overload: OverloadSettings | None = None,
    ) -> None:
        activity = activity or Activity()
        # Where recordings' rows and media go (issue 13); None: the server has none (tests).
        self.recording_backend = recordings
        self.services = EngineServices(
            store=store,
            network=network,
            clock=clock,
            activity=activity,
            finished=self._finished,
            dispatcher=Dispatcher(sender, store, clock, activity, retry_policy),
            feed=CallFeed(),
            post=self.post,
            start_targets=self.start_transfer_targets,
            recordings=recordings,
            bounds=bounds or CallBounds(),
            count_start=self.count_start,
        )
        self.runners: dict[str, CallRunner] = {}
        default_limits = LimitSettings()
        self.limits_for = limits_for or (lambda _account_id: default_limits)
        self._limiters: dict[str, AccountLimiter] = {}
        self._queued: dict[str, Call] = {}  # call_id -> call waiting in its account's queue
        self._dequeue_timers: dict[str, TimerHandle] = {}
        self.retention = retention
        self.draining = False
        self._all_finished = asyncio.Event()
        self._purge_timer: TimerHandle | None = None
        # Takes the calls the network offers (calls/inbound.py); None: every one is refused.
        self.incoming: IncomingCalls | None = None
        # Admission control of this node (limits/overload.py); None: no node limit (tests).
        self.overload = OverloadGate(overload) if overload is not None else None
        self._probe = None if self.overload is None else OverloadProbe(self.overload, self.backlog)
        self._placing: set[str] = set()  # admitted to start, not running yet (being stored)
        # Several nodes: the account's queue drains across nodes (store/postgres.py); None: one.
        self.shared_queue: SharedQueue | None = None

    @property
    def feed(self) -> CallFeed:
        assert self.services.feed is not None
        return self.services.feed

    @property
    def activity(self) -> Activity:
        return self.services.activity

    @property
    def clock(self) -> Clock:
        return self.services.clock

    async def start(self) -> None:
        """Pick up the calls a previous run left behind, the events they still owe, and start
        purging old calls."""
        await self.services.network.start(self.incoming)
        if self._probe is not None:
            self._probe.start()
        self._schedule_purge(0.0)
        calls, events = await self.services.store.adopt_calls((QUEUED, INITIATED, ANSWERED))
        await self.adopt(calls, events, "Switchboard restarted")

    async def adopt(self, calls: list[Call], events: list[OutboxEntry], why: str) -> None:
        """Drive calls this node has just become responsible for: after a restart, or taken
        over from a node whose lease ran out (nodes/registry.py). Queued calls wait in their
        account's queue here; live ones end, saying `why` (their media did not survive); the
        events still pending are delivered again (see outbox.py)."""
        await self._resume_outbox(events)
        for call in calls:
            if call.call_id in self.runners or call.call_id in self._queued:
                continue  # already driven here
            limiter = self._limiter(call.account_id)
            if call.state == QUEUED:
                limiter.requeue(call.call_id, call.request.priority)
                self._queued[call.call_id] = call
                self._schedule_dequeue(call.account_id)
            else:
                # The media of a live call does not survive a restart: end it, and say so.
                limiter.mark_active(call.call_id)
                last = await self.services.store.last_timeline_sequence(call.call_id)
                runner = self.launch(call, start=False, last_timeline_sequence=last)
                runner.post(
                    End(
                        "error",
                        f"{why} while the call was "
                        f"{'ringing' if call.state == INITIATED else 'answered'}; "
                        "its media was lost",
                        str(uuid.uuid4()),
                    )
                )

    def abandon_all(self) -> None:
        """This node lost its lease (nodes/registry.py): another node owns its calls now. Stop
        driving them at once, writing nothing (the store's fencing would refuse it anyway)."""
        for timer in self._dequeue_timers.values():
            timer.cancel()
        self._dequeue_timers.clear()
        self._queued.clear()
        self._limiters.clear()
        for runner in list(self.runners.values()):
            runner.abandon()

    async def _resume_outbox(self, events: list[OutboxEntry]) -> None:
        """Events recorded but not delivered when their node stopped (see outbox.py)."""
        store = self.services.store
        for entry in events:
            assert entry.id is not None
            if entry.asynchronous:
                self.activity.spawn(self._redeliver(entry))
            else:
                # It expected BXML for a call whose media is gone: that call ends below.
                await store.finish_event(entry.id, ABANDONED, 0)

    async def _redeliver(self, entry: OutboxEntry) -> None:
        try:
            result = await self.services.dispatcher.deliver(entry)
        except Fenced:
            return  # another node owns the event's call now, and delivers it
        if result.ok:
            logger.info("delivered %s of %s after a restart", entry.event_type, entry.call_id)

    # -- retention --------------------------------------------------------------------------
    def _schedule_purge(self, delay: float) -> None:
        if self.retention is None:
            return
        self._purge_timer = self.clock.call_later(delay, self._purge)

    def _purge(self) -> None:
        assert self.retention is not None
        cutoff = format_time(self.clock.wall() - self.retention)

        async def purge() -> None:
            purged = await self.services.store.purge_calls(cutoff)
            if purged:
                logger.info("purged %d calls that ended before %s", purged, cutoff)

        self.activity.spawn(purge())
        self._schedule_purge(PURGE_INTERVAL_SECONDS)

    # -- limits and the outbound queue ------------------------------------------------------
    def _limiter(self, account_id: str) -> AccountLimiter:
        settings = self.limits_for(account_id)
        limiter = self._limiters.get(account_id)
        if limiter is None:
            limiter = self._limiters[account_id] = AccountLimiter(settings)
        elif limiter.settings is not settings:  # changed by provisioning while running
            limiter.settings = settings  # (limits_for caches: the same object until then)
        return limiter

    # -- this node's admission control (limits/overload.py) ---------------------------------
    @property
    def live_calls(self) -> int:
        """Calls running on this node, and those admitted to start that are being stored."""
        return len(self.runners) + len(self._placing)

    def backlog(self) -> int:
        """Events delivered to calls and not yet handled (for the overload probe)."""
        return sum(len(runner.queue) for runner in self.runners.values())

    def node_refusal(self, path: str) -> Refusal | None:
        """Why this node takes no new call now (full, or falling behind), or None. O(1)."""
        return None if self.overload is None else self.overload.refusal(self.live_calls, path)

    def node_refusal_text(self, path: str) -> str | None:
        refusal = self.node_refusal(path)
        return None if refusal is None else refusal.description

    def check_node(self) -> None:
        """createCall: 503 with Retry-After while this node takes no new call."""
        refusal = self.node_refusal("create")
        if refusal is not None:
            raise OverloadedError(refusal.description, refusal.retry_after)

    def admit(self, account_id: str, call_id: str, priority: int) -> bool:
        """Before the insert: reserve the call's place, or refuse it with Bandwidth's 429 (or
        503 when this node takes no new call).

        True when the call may be placed now: it is then stored initiated (placed when it was
        created), and its runner need not save it again before it dials."""
        self.check_node()  # again: other requests may have filled the node since the first
        admission = self._limiter(account_id).admit(self.clock.monotonic(), call_id, priority)
        if admission.decision is Decision.START:
            self._placing.add(call_id)
            return True
        if admission.decision is Decision.REJECT:
            assert admission.reason is not None
            raise RateLimitError(admission.reason, max(1, math.ceil(admission.retry_after)))
        return False

    def release(self, call: Call) -> None:
        """The insert failed: give the call's place back."""
        self._placing.discard(call.call_id)
        self._limiter(call.account_id).ended(call.call_id)

    def requeue(self, call: Call) -> bool:
        """Several nodes: the account's shared calls-per-second refused to place the call now
        (store/postgres.py). It waits in the account's queue instead, as a call over the rate
        does on one node; False when the queue is off or full."""
        self.release(call)  # its place to start now, first
        limiter = self._limiter(call.account_id)
        if limiter.queue_size >= limiter.settings.max_queue_size:
            return False
        limiter.requeue(call.call_id, call.request.priority)
        return True

    def count_start(self, account_id: str) -> None:
        """A <Forward> leg: allowed, but counted against the account's calls per second."""
        self._limiter(account_id).count_start(self.clock.monotonic())

    def admit_inbound(self, account_id: str, call_id: str) -> str | None:
        """An inbound call starts now or not at all: None when admitted, else the reason."""
        if self.draining:
            return "Switchboard is shutting down"
        admission = self._limiter(account_id).admit_now(self.clock.monotonic(), call_id)
        if admission.decision is not Decision.START:
            return admission.reason
        self._placing.add(call_id)
        return None

    def launch_inbound(self, call: Call, open_leg: OpenLeg) -> None:
        """Run a stored inbound call: its runner opens the caller's leg and sends `initiate`."""
        runner = CallRunner(call, self.services, dial=False, inbound=True)
        runner.leg = open_leg(call.call_id, runner.post)
        self.runners[call.call_id] = runner
        self._placing.discard(call.call_id)
        runner.task = asyncio.get_running_loop().create_task(runner.run())

    async def on_call_created(self, call: Call) -> None:
        limiter = self._limiter(call.account_id)
        if call.call_id in limiter.active:
            self.launch(call)
        else:
            self._queued[call.call_id] = call
            self._schedule_dequeue(call.account_id)

    def _schedule_dequeue(self, account_id: str) -> None:
        if self.draining or account_id in self._dequeue_timers:
            return  # while draining, queued calls stay queued: they start after the restart
        delay = self._limiter(account_id).next_dequeue_in(self.clock.monotonic())
        if delay is None:
            return
        self._dequeue_timers[account_id] = self.clock.call_later(
            delay, lambda: self._dequeue(account_id)
        )

    def _dequeue(self, account_id: str) -> None:
        self._dequeue_timers.pop(account_id, None)
        now = self.clock.monotonic()
        limiter = self._limiter(account_id)
        ending: str | None = None
        if self.overload is not None and limiter.next_dequeue_in(now) == 0.0:
            # A call's turn has come: the node must have room for it (limits/overload.py).
            turn = self.overload.queued_turn(now, self.live_calls)
            if turn.wait is not None:  # a short overload only delays the queue
                self._dequeue_timers[account_id] = self.clock.call_later(
                    turn.wait, lambda: self._dequeue(account_id)
                )
                return
            ending = turn.end
        for call_id in limiter.dequeue(now):
            call = self._queued.pop(call_id, None)
            if call is None:
                continue
            if ending is None and self.shared_queue is not None:
                self._placing.add(call_id)  # counted live while the database is asked
                self.activity.spawn(self._take_shared_turn(call))
            elif ending is None:
                self.launch(call)
            else:  # no room for longer than the bound: ended, at the account's pace
                self.launch(call, start=False).post(
                    End(NODE_CAPACITY_EXCEEDED, ending, str(uuid.uuid4()))
                )
        self._schedule_dequeue(account_id)

    async def _take_shared_turn(self, turn: Call) -> None:
        """Several nodes: this node's turn to place a queued call of the account goes to the
        account's best queued call on any node, under the limits held in the database
        (store/postgres.py `take_queued_turn`); `turn`, the call whose turn it was here, waits
        again if another goes first."""
        assert self.shared_queue is not None
        account_id = turn.account_id
        limiter = self._limiter(account_id)
        local = [turn.call_id, *(i for i, c in self._queued.items() if c.account_id == account_id)]
        self._placing.discard(turn.call_id)
        try:
            chosen, stale, wait = await self.shared_queue.take_queued_turn(
                account_id, limiter.settings, local
            )
        except Exception as error:  # the database is away: this node places its own call
            logger.warning("queue of %s: the shared queue failed (%s)", account_id, error)
            chosen, stale, wait = turn, [], 0.0
        for call_id in stale:  # another node placed (or ended) them
            if call_id != turn.call_id and self._queued.pop(call_id, None) is not None:
                limiter.remove_queued(call_id)
        if chosen is not None and chosen.call_id == turn.call_id:
            self.launch(turn)
        else:
            limiter.ended(turn.call_id)
            if turn.call_id not in stale:  # still queued here: it waits for a later turn
                limiter.requeue(turn.call_id, turn.request.priority)
                self._queued[turn.call_id] = turn
            if chosen is not None:  # another node's call (or another of ours) goes first
                self._queued.pop(chosen.call_id, None)
                limiter.remove_queued(chosen.call_id)
                limiter.mark_active(chosen.call_id)
                last = await self.services.store.last_timeline_sequence(chosen.call_id)
                self.launch(chosen, last_timeline_sequence=last)
        if chosen is None:
            # The shared limits say wait (or the best call is being taken by another node):
            # ask again then, not as soon as the local window allows (a loop of queries).
            if account_id not in self._dequeue_timers:
                self._dequeue_timers[account_id] = self.clock.call_later(
                    max(wait, SHARED_QUEUE_RECHECK_SECONDS), lambda: self._dequeue(account_id)
                )
        else:
            self._schedule_dequeue(account_id)

    def queue_statistics(self, account_id: str) -> tuple[int, int]:
        limiter = self._limiter(account_id)
        return limiter.queue_size, limiter.settings.max_queue_size

    # -- runners ----------------------------------------------------------------------------
    def launch(
        self, call: Call, *, start: bool = True, last_timeline_sequence: int = 0
    ) -> CallRunner:
        runner = CallRunner(
            call, self.services, dial=start, last_timeline_sequence=last_timeline_sequence
        )
        self.runners[call.call_id] = runner
        self._placing.discard(call.call_id)
        # Not counted as activity: a live call waiting for its next event is quiet.
        runner.task = asyncio.get_running_loop().create_task(runner.run())
        return runner

    def _finished(self, call_id: str) -> None:
        runner = self.runners.pop(call_id, None)
        if not self.runners:
            self._all_finished.set()
        if runner is not None:
            account_id = runner.call.account_id
            self._limiter(account_id).ended(call_id)
            self._schedule_dequeue(account_id)

    def post(self, call_id: str, message: RunnerEvent) -> bool:
        """The bus: a message to a call's runner. False (and nothing happens) when that call
        is not running here: it has ended, or never existed."""
        runner = self.runners.get(call_id)
        if runner is None:
            return False
        runner.post(message)
        return True

    async def start_transfer_targets(
        self, parent: Call, verb: Transfer, tag: str | None
    ) -> tuple[list[tuple[str, str]], list[str]]:
        """Store and dial a <Transfer>'s targets, each admitted by the account's limits (start
        now or refused, never queued). Returns (callId, destination) of those started and the
        reasons of those refused."""
        started: list[tuple[str, str]] = []
        refused: list[str] = []
        now = self.clock.wall()
        base = parent.call_url.rsplit("/", 1)[0]
        for target in verb.targets:
            call_id = new_call_id()
            # Not asked of the node: a target belongs to a call it already admitted.
            limited = self.admit_inbound(parent.account_id, call_id)
            if limited is not None:
                refused.append(f"{target.destination}: {limited}")
                continue
            call = target_call(call_id, parent, verb, target, tag, f"{base}/{call_id}", now)
            try:
                await self.services.store.insert_call(call)  # stored before it is dialled
            except RateLimitError as shared:
                # Several nodes: the account's limits held in the database refused it.
                self.release(call)
                refused.append(f"{target.destination}: {shared.description}")
                continue
            except BaseException:
                self.release(call)
                raise
            self.launch(call)
            started.append((call_id, target.destination))
        return started, refused

    def current(self, call_id: str) -> Call | None:
        """The live state of a call the engine is running (None when it runs no such call)."""
        runner = self.runners.get(call_id)
        return runner.call if runner is not None else self._queued.get(call_id)

    # -- call control (updateCall, PUT /bxml) -----------------------------------------------
    async def update_call(self, call: Call, update: UpdateCallRequest) -> None:
        if call.call_id in self._queued:
            if update.state != "completed":
                raise _not_modifiable(call.call_id)
            # callQueueingGuide.mdx: a queued call is removed "like any other call in progress".
            queued = self._queued.pop(call.call_id)
            self._limiter(call.account_id).remove_queued(call.call_id)
            self.launch(queued, start=False).post(End("cancel"))
            return
        runner = self.runners.get(call.call_id)
        if runner is None or runner.call.state == DISCONNECTED:
            raise _not_modifiable(call.call_id)
        live_state = runner.call.state
        if update.state == "completed":
            # An inbound call not answered yet is rejected by its own application: `hangup`,
            # as <Hangup> would (hangup.mdx); an outbound one still ringing is cancelled.
            unanswered = "hangup" if call.direction == "inbound" else "cancel"
            runner.post(End("hangup" if live_state == ANSWERED else unanswered))
            return
        if live_state != ANSWERED:
            raise _not_modifiable(call.call_id)
        if runner.forward_leg is not None:
            raise _forwarded(call.call_id)
        if update.redirect_url is None:
            runner.post(TagUpdate(update.tag or ""))
            return
        runner.post(
            ExternalRedirect(
                RedirectRequest(
                    url=update.redirect_url,
                    method=update.redirect_method,
                    fallback_url=update.redirect_fallback_url,
                    fallback_method=update.redirect_fallback_method,
                    username=update.username,
                    password=update.password,
                    fallback_username=update.fallback_username,
                    fallback_password=update.fallback_password,
                    tag=update.tag,
                )
            )
        )

    async def update_recording(self, call: Call, recording_state: str) -> None:
        """PUT .../calls/{callId}/recording: `paused` or `recording` (the call's active
        <StartRecording> recording); 409 when it has none."""
        runner = self.runners.get(call.call_id)
        if runner is None or runner.call_recording is None:
            raise ConflictError(f"Call [{call.call_id}] has no active recording")
        runner.post(RecordingState(recording_state))

    def transcribe_recording(
        self, recording: Recording, callback: WebhookRequest | None, tag: str | None
    ) -> None:
        """POST .../recordings/{id}/transcription: transcribe it in the background (the speech
        engine on the stored media), then send transcriptionAvailable to `callback`."""
        backend = self.recording_backend
        assert backend is not None
        store, storage = backend

        async def job() -> None:
            data = await asyncio.to_thread(storage.read, recording.media_key or "")
            if data is None:
                return
            audio = await asyncio.to_thread(decode_media, data, recording.file_format)
            done = await transcribe(
                recording, audio, None, speech_engine(), store, storage, self.clock.wall()
            )
            if callback is None:
                return
            payload = available_payload(done, self.clock.wall(), tag)
            entry = OutboxEntry(
                recording.call_id,
                "transcriptionAvailable",
                replace(callback, payload=payload),
                None,
                asynchronous=True,
            )
            entry_id = await store_event(entry)
            await self.services.dispatcher.deliver(replace(entry, id=entry_id))

        store_event = self.services.store.record_event
        self.activity.spawn(job())

    async def replace_bxml(self, call: Call, document: Document) -> None:
        runner = self.runners.get(call.call_id)
        if runner is None or runner.call.state != ANSWERED:
            raise _not_modifiable(call.call_id)
        if runner.forward_leg is not None:
            raise _forwarded(call.call_id)
        runner.post(NewBxml(document))

    async def drain(self, grace_seconds: float, flush_seconds: float = 30.0) -> None:
        """SIGTERM: no more dequeuing; live calls get `grace_seconds` (real time) to end on
        their own; the rest are ended (cause `error`, saying why) and their disconnect events
        delivered; then the outbox is given `flush_seconds` to finish."""
        self.draining = True
        for timer in self._dequeue_timers.values():
            timer.cancel()
        self._dequeue_timers.clear()
        if self.runners:
            self._all_finished.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._all_finished.wait(), grace_seconds)
        for runner in list(self.runners.values()):
            runner.post(
                End(
                    "error",
                    "Switchboard shut down before the call ended "
                    f"(it waited {grace_seconds:g} s for calls to finish)",
                    str(uuid.uuid4()),
                )
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.activity.wait_idle(self.is_quiet), flush_seconds)
        self.feed.close()  # the console's event streams end, so the server can stop

    # -- virtual time and shutdown ----------------------------------------------------------
    def is_quiet(self) -> bool:
        """No runner has an event waiting or being handled (for virtual-time tests)."""
        return all(runner.quiet for runner in self.runners.values())

    async def settle(self) -> None:
        """Wait until everything that can happen without time passing has happened."""
        await self.activity.wait_idle(self.is_quiet)

    async def stop(self) -> None:
        if self._probe is not None:
            self._probe.stop()
        if self._purge_timer is not None:
            self._purge_timer.cancel()
        for timer in self._dequeue_timers.values():
            timer.cancel()
        self._dequeue_timers.clear()
        for runner in list(self.runners.values()):
            if runner.task is not None:
                runner.task.cancel()
        await asyncio.gather(
            *(r.task for r in self.runners.values() if r.task), return_exceptions=True
        )
        self.runners.clear()
        await self.services.network.close()

    def get(self, call_id: str) -> CallRunner | None:
        return self.runners.get(call_id)

    def live_gauges(self) -> dict[str, dict[str, float]]:
        """What /metrics shows of the engine right now."""
        calls: dict[str, float] = {QUEUED: 0, INITIATED: 0, ANSWERED: 0}
        for runner in self.runners.values():
            if runner.call.state in calls:
                calls[runner.call.state] += 1
        calls[QUEUED] += len(self._queued)
        queue = {account: float(limiter.queue_size) for account, limiter in self._limiters.items()}
        engine = {
            "in_flight": float(self.activity.busy),
            "outbox_pending": float(self.services.store.pending_event_count()),
        }
        return {"calls": calls, "queue": queue, "engine": engine}


def _forwarded(call_id: str) -> ConflictError:
    # forward.mdx: "your application will not have any control over either leg of the call".
    return ConflictError(
        f"Call [{call_id}] was forwarded (<Forward>): only state=completed can end it now"
    )


def _not_modifiable(call_id: str) -> ConflictError:
    return ConflictError(f"Call [{call_id}] cannot be modified in its current state")
