"""<Transfer> in the real engine, under generated interleavings of the two calls' events
(issue 12, "Invariants to test, not only cases").

The pure table (calls/transfer.py) is tested alone in tests/unit/calls/test_transfer_table.py;
here the whole engine runs it: the runners of the original call (A) and of its targets, their
mailboxes, the bus between them, their timers, the outbox in a real SQLite file. What the test
scripts is everything from outside the engine, in an order hypothesis chooses:

- each phone: a target answers, is busy, declines, gives up ringing, hangs up, finishes its
  whisper; A's caller hangs up or hears the end of what plays;
- the application: updateCall on either call (a redirect, or state=completed), and *when* each
  webhook is answered (every request is held until the script releases it, so a transferAnswer
  can come back after the caller left, a disconnect can be delivered before a transferComplete);
- time: the virtual clock moves, firing callTimeout and the 30 s ring-start limit.

A step is 1 to 3 of those done back to back, before the engine handles any of them (two phones
acting at the same instant); between steps the engine settles. After the script, the test lets
every webhook through, finishes every sound and lets every timer run out; then A's caller hangs up.

The invariants, whatever the order:
- every call ends (no runner left) and no target is left ringing once its time is up;
- exactly one end event per call: `disconnect` for A, `transferDisconnect` for each target (none
  gets a `disconnect`), recorded once, sent once, delivered, and the last event of its call;
- at most one transferComplete, and only while A lives (recorded before A's disconnect);
- at most one target is ever joined to A.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hypothesis import example, given, settings
from hypothesis import strategies as st

from switchboard.activity import Activity
from switchboard.calls.create_request import parse_create_call
from switchboard.calls.engine import Engine
from switchboard.calls.ids import new_call_id
from switchboard.calls.model import DISCONNECTED, INITIATED, Call
from switchboard.calls.transfer import Phase
from switchboard.calls.update_request import UpdateCallRequest
from switchboard.clock import VirtualClock
from switchboard.errors import ConflictError
from switchboard.network import base as net
from switchboard.store.sqlite import SqliteStore
from switchboard.webhooks.request import WebhookAttempt, WebhookRequest
from tests.support.create_call_cases import seed_body

APP = "http://app.invalid"  # never connected to: the sender below answers for it
ACCOUNT = "9900001"
A_NUMBER = "+15555550190"
TARGET_NUMBERS = ("+15555550201", "+15555550202", "+15555550203")
CALL_TIMEOUT = 20  # the targets' callTimeout (the <Transfer>'s)
SPEAK = "<Response><SpeakSentence>{}</SpeakSentence></Response>"


# -- the network: phones that do only what the script says -----------------------------------
class ScriptedLeg:
    """One call's leg. Rings at once; says nothing else until the script makes it. Media
    requests play until the script (or the drain) finishes them."""

    sip_call_id = None

    def __init__(self, to: str, events: net.EventSink) -> None:
        self.to = to
        self.events = events
        self.media_generation = 0
        self.playing = False
        self.answered = False
        self.hung_up = False  # the engine ended it (BYE, or CANCEL while it rang)
        self.far_end_gone = False  # the phone ended it (busy, declined, hung up...)

    @property
    def gone(self) -> bool:
        return self.hung_up or self.far_end_gone

    def _media(self, *_args: Any) -> None:
        self.media_generation += 1
        self.playing = True

    speak = play = silence = ring = send_dtmf = _media

    def stop_media(self) -> None:
        self.playing = False

    def gather_started(self) -> None:
        pass

    def hangup(self) -> None:
        self.hung_up = True
        self.playing = False

    # What the phone does: each reports one network event, when it still can.
    def answer(self) -> None:
        if not self.gone and not self.answered:
            self.answered = True
            self.events(net.Answered())

    def refuse(self, event: net.LegEvent) -> None:
        """Busy, declined or no answer: only while it rings."""
        if not self.gone and not self.answered:
            self.far_end_gone = True
            self.events(event)

    def remote_hangup(self) -> None:
        if not self.gone and self.answered:
            self.far_end_gone = True
            self.playing = False
            self.events(net.RemoteHangup())

    def finish_media(self) -> None:
        if not self.gone and self.playing:
            self.playing = False
            self.events(net.MediaFinished(self.media_generation))


class ScriptedRoom:
    def __init__(self, leg_ids: tuple[str, ...], rooms: set[ScriptedRoom]) -> None:
        self.leg_ids = leg_ids
        self._rooms = rooms

    def close(self) -> None:
        self._rooms.discard(self)


class ScriptedNetwork:
    joins_legs = True  # as the simulated network: <Transfer> may join two legs

    def __init__(self) -> None:
        self.legs: dict[str, ScriptedLeg] = {}  # by callId, in the order they were placed
        self.rooms: set[ScriptedRoom] = set()  # open now

    async def start(self, incoming: object = None) -> None:
        pass

    def open_room(self, leg_ids: tuple[str, ...]) -> ScriptedRoom:
        room = ScriptedRoom(leg_ids, self.rooms)
        self.rooms.add(room)
        return room

    def originate(
        self,
        call_id: str,
        to: str,
        from_: str,
        events: net.EventSink,
        caller: net.CallerId = net.NO_CALLER_ID,
    ) -> ScriptedLeg:
        leg = self.legs[call_id] = ScriptedLeg(to, events)
        events(net.Ringing())
        return leg

    async def close(self) -> None:
        pass


# -- the application: answers every webhook, but only when the script lets it ----------------
class HeldSender:
    """A WebhookSender whose every request waits until `release`; then it is answered 200 with
    the BXML of its path. While held, a request is waiting, not working, so `engine.settle()`
    returns (as it does while a real receiver takes its time)."""

    def __init__(self, bxml: dict[str, str]) -> None:
        self.bxml = bxml
        self.activity: Activity | None = None
        self.held: list[asyncio.Future[None]] = []
        self.sent: list[WebhookRequest] = []  # in the order they were sent

    async def send(self, request: WebhookRequest) -> WebhookAttempt:
        assert self.activity is not None
        self.sent.append(request)
        answered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.held.append(answered)
        await self.activity.idle_during(answered)
        body = self.bxml.get(urlsplit(request.url).path, "")
        return WebhookAttempt(
            request.url, request.method, 200, 1.0, "application/xml", body.encode()
        )

    def release(self, index: int) -> None:
        if self.held:
            self.held.pop(index % len(self.held)).set_result(None)

    def release_all(self) -> None:
        while self.held:
            self.release(0)


# -- scenarios --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scenario:
    targets: int  # 1 to 3
    whisper: str  # "none": no transferAnswerUrl; "empty": it answers nothing; "speak"
    complete_url: bool  # with transferCompleteUrl, or the verbs after <Transfer> run
    steps: tuple[tuple[tuple[Any, ...], ...], ...] = field(default=())


TARGET_MOVES = ("answer", "busy", "decline", "no-answer", "hangup", "media", "complete", "redirect")
# Answers weigh more: the races worth finding start with one (or two at the same instant).
TARGET_WEIGHTS = ("answer", "answer", "answer", *TARGET_MOVES)
A_MOVES = ("hangup", "media", "complete", "redirect")
moves = st.one_of(
    st.tuples(st.just("target"), st.integers(0, 2), st.sampled_from(TARGET_WEIGHTS)),
    st.tuples(st.just("a"), st.sampled_from(A_MOVES)),
    st.tuples(st.just("release"), st.integers(0, 5)),
    st.tuples(st.just("advance"), st.sampled_from((0.5, 5.0, 31.0))),
)
scenarios = st.builds(
    Scenario,
    targets=st.integers(1, 3),
    whisper=st.sampled_from(("none", "empty", "speak")),
    complete_url=st.booleans(),
    steps=st.lists(st.lists(moves, min_size=1, max_size=3).map(tuple), max_size=14).map(tuple),
)


def answer_bxml(scenario: Scenario) -> str:
    whisper = "" if scenario.whisper == "none" else f' transferAnswerUrl="{APP}/whisper"'
    numbers = "".join(
        f'<PhoneNumber{whisper} transferDisconnectUrl="{APP}/transfer-disconnect">'
        f"{number}</PhoneNumber>"
        for number in TARGET_NUMBERS[: scenario.targets]
    )
    complete = f' transferCompleteUrl="{APP}/complete"' if scenario.complete_url else ""
    return (
        f'<Response><Transfer callTimeout="{CALL_TIMEOUT}"{complete}>{numbers}</Transfer>'
        "<SpeakSentence>Nobody could take your call</SpeakSentence></Response>"
    )


def application(scenario: Scenario) -> dict[str, str]:
    return {
        "/answer": answer_bxml(scenario),
        "/whisper": SPEAK.format("You have a call") if scenario.whisper == "speak" else "",
        "/complete": SPEAK.format("The transfer is over"),
        "/moved": SPEAK.format("You were moved"),
        "/target-moved": SPEAK.format("You were moved too"),
    }


class World:
    """The engine and everything outside it, for one scenario."""

    def __init__(self, store: SqliteStore, scenario: Scenario) -> None:
        self.store = store
        self.clock = VirtualClock()
        self.network = ScriptedNetwork()
        self.sender = HeldSender(application(scenario))
        self.engine = Engine(store, self.network, self.sender, self.clock)  # type: ignore[arg-type]
        self.sender.activity = self.engine.activity
        self.a = ""

    async def place_a(self) -> None:
        """A is placed, answers, and its answer webhook returns the <Transfer>: targets ring."""
        await self.engine.start()
        moment = datetime(2026, 1, 1, tzinfo=UTC)
        self.a = new_call_id()
        assert self.engine.admit(ACCOUNT, self.a, 5)
        body = seed_body(to=A_NUMBER, answerUrl=f"{APP}/answer", disconnectUrl=f"{APP}/disconnect")
        call = Call(
            call_id=self.a,
            account_id=ACCOUNT,
            request=parse_create_call(body),
            call_url=f"{APP}/calls/{self.a}",
            enqueued_time=moment,
            state=INITIATED,
            start_time=moment,
            last_update=moment,
        )
        await self.store.insert_call(call)
        await self.engine.on_call_created(call)
        await self.engine.settle()
        self.network.legs[self.a].answer()
        await self.engine.settle()
        self.sender.release_all()  # the answer: <Transfer>
        await self.engine.settle()

    @property
    def targets(self) -> list[str]:
        return [call_id for call_id in self.network.legs if call_id != self.a]

    async def update(self, call_id: str, update: UpdateCallRequest) -> None:
        call = self.engine.current(call_id)
        if call is None:
            return  # the call has ended: the API would answer 404/409
        # Not modifiable now (a redirect of a target still ringing): the API's 409.
        with contextlib.suppress(ConflictError):
            await self.engine.update_call(call, update)

    async def move(self, move: tuple[Any, ...]) -> None:
        match move:
            case ("target", index, what):
                targets = self.targets
                if targets:
                    await self.target_move(targets[index % len(targets)], what)
            case ("a", what):
                await self.call_move(self.a, what, "/moved")
            case ("release", index):
                self.sender.release(index)
            case ("advance", seconds):
                self.clock.advance(seconds)

    async def target_move(self, call_id: str, what: str) -> None:
        leg = self.network.legs[call_id]
        match what:
            case "answer":
                leg.answer()
            case "busy":
                leg.refuse(net.Busy(486))
            case "decline":
                leg.refuse(net.Rejected(603))
            case "no-answer":
                leg.refuse(net.NoAnswer(480))
            case _:
                await self.call_move(call_id, what, "/target-moved")

    async def call_move(self, call_id: str, what: str, moved_to: str) -> None:
        leg = self.network.legs[call_id]
        match what:
            case "hangup":
                leg.remote_hangup()
            case "media":
                leg.finish_media()
            case "complete":
                await self.update(call_id, UpdateCallRequest(state="completed"))
            case "redirect":
                redirect = UpdateCallRequest(state="active", redirect_url=f"{APP}{moved_to}")
                await self.update(call_id, redirect)

    async def run_out(self) -> None:
        """Answer every webhook and finish every sound, again and again, moving time to each
        timer in turn, until nothing is left to happen within the next 3 minutes."""
        until = self.clock.monotonic() + 180.0
        for _ in range(500):
            await self.engine.settle()
            if self.sender.held or any(leg.playing and not leg.gone for leg in self.legs()):
                self.sender.release_all()
                for leg in self.legs():
                    leg.finish_media()
                continue
            due = self.clock.next_due()
            if due is None or due > until:
                return
            self.clock.advance(due - self.clock.monotonic())
        raise AssertionError("the calls never stop doing things")

    def legs(self) -> list[ScriptedLeg]:
        return list(self.network.legs.values())


async def play(scenario: Scenario, database: Path) -> World:
    store = SqliteStore(database)
    await store.open()
    world = World(store, scenario)
    try:
        await world.place_a()
        assert len(world.targets) == scenario.targets, "every target rings"
        for step in scenario.steps:
            for move in step:  # back to back: the engine handles none of them in between
                await world.move(move)
            await world.engine.settle()
        await world.run_out()
        await check_nothing_waits(world)
        world.network.legs[world.a].remote_hangup()  # A's caller leaves, if still there
        await world.engine.settle()
        await world.run_out()
        assert world.engine.runners == {}, "every call ended"
        assert world.sender.held == []
        await check_events(world)
        return world
    finally:
        await world.engine.stop()
        await store.close()


async def check_nothing_waits(world: World) -> None:
    """Once every webhook is answered and every timer ran out, no target rings, and what still
    lives is A joined to the one target that won (they talk until one hangs up)."""
    for call_id in world.targets:
        leg = world.network.legs[call_id]
        assert leg.answered or leg.gone, f"target {call_id} left ringing"
        runner = world.engine.runners.get(call_id)
        assert runner is None or runner.call.state != INITIATED
    live = set(world.engine.runners)
    if live:
        a_runner = world.engine.runners.get(world.a)
        assert a_runner is not None, f"targets {live} outlived the call that rang them"
        transfer = a_runner.transfer
        assert transfer is not None and transfer.phase is Phase.BRIDGED, (
            f"A waits with {live} up and its transfer {transfer}"
        )
        assert live == {world.a, transfer.winner}


async def check_events(world: World) -> None:
    store = world.store
    sent = Counter(
        (request.payload["callId"], request.payload["eventType"]) for request in world.sender.sent
    )
    # A: exactly one disconnect, recorded, sent and delivered once, and its last event.
    a_events = await store.event_statuses(world.a)
    kinds = [kind for kind, _, _ in a_events]
    assert kinds.count("disconnect") == 1 and kinds[-1] == "disconnect", kinds
    assert "transferDisconnect" not in kinds
    assert sent[(world.a, "disconnect")] == 1
    # transferComplete: at most once, and recorded while A lived (before its disconnect).
    assert kinds.count("transferComplete") <= 1, kinds
    stored_a = await store.get_call(world.a)
    assert stored_a is not None and stored_a.state == DISCONNECTED
    for call_id in world.targets:
        events = await store.event_statuses(call_id)
        target_kinds = [kind for kind, _, _ in events]
        assert target_kinds.count("transferDisconnect") == 1, (call_id, target_kinds)
        assert target_kinds[-1] == "transferDisconnect" and "disconnect" not in target_kinds
        assert sent[(call_id, "transferDisconnect")] == 1
        assert sent[(call_id, "disconnect")] == 0
        stored = await store.get_call(call_id)
        assert stored is not None and stored.state == DISCONNECTED
        assert stored.extra.get("parent_call_id") == world.a
    for call_id in (world.a, *world.targets):
        for kind, status, attempts in await store.event_statuses(call_id):
            assert (status, attempts) == ("delivered", 1), (call_id, kind, status, attempts)
    # The first to answer wins: A is joined to one target at most, and only once.
    timeline = await store.timeline(world.a)
    joined = [e for e in timeline if e.kind == "transfer" and e.data.get("event") == "joined"]
    assert len(joined) <= 1, joined


_databases = itertools.count()


def run(scenario: Scenario) -> World:
    with tempfile.TemporaryDirectory() as directory:
        return asyncio.run(play(scenario, Path(directory) / f"s{next(_databases)}.db"))


# -- a few interleavings by hand, then generated ones -----------------------------------------
def test_the_target_answers_and_later_hangs_up_transfer_complete_then_a_ends() -> None:
    scenario = Scenario(
        1,
        "speak",
        True,
        (
            (("target", 0, "answer"),),
            (("release", 0),),  # transferAnswer: the whisper
            (("target", 0, "media"),),  # the whisper is over: joined
            (("target", 0, "hangup"),),
        ),
    )
    world = run(scenario)
    kinds = [r.payload["eventType"] for r in world.sender.sent if r.payload["callId"] == world.a]
    assert kinds == ["answer", "transferComplete", "disconnect"]


def test_a_leaves_at_the_instant_the_target_answers_no_transfer_complete() -> None:
    scenario = Scenario(
        2, "speak", True, ((("target", 0, "answer"), ("a", "hangup"), ("target", 1, "answer")),)
    )
    world = run(scenario)
    kinds = [r.payload["eventType"] for r in world.sender.sent if r.payload["callId"] == world.a]
    assert kinds == ["answer", "disconnect"]


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(scenarios)
@example(  # a redirect of A while its winner whispers, with the transferAnswer still out
    Scenario(2, "speak", True, ((("target", 1, "answer"),), (("a", "redirect"),)))
)
@example(  # every target fails at the same instant
    Scenario(
        3,
        "empty",
        True,
        ((("target", 0, "busy"), ("target", 1, "decline"), ("target", 2, "no-answer")),),
    )
)
@example(  # the callTimeout runs out for every target, the transferComplete answered late
    Scenario(2, "none", True, ((("advance", 31.0),), (("a", "hangup"),), (("release", 0),)))
)
def test_every_interleaving_ends_each_call_once(scenario: Scenario) -> None:
    run(scenario)
