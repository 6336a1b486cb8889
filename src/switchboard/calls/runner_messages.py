"""What a call's runner is given and what its mailbox carries: the engine's services, the
events a runner handles besides the network's own, and the mailbox itself.

Separate from calls/runner.py because these are the runner's interface, not its workings:
the engine and other calls' runners post these messages (DESIGN.md, "Calls with many legs":
actors affect each other only by posting), and every part of the runner reads them."""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from switchboard.activity import Activity
from switchboard.bxml.interpreter import RedirectRequest
from switchboard.bxml.verbs import Bridge as BridgeVerb
from switchboard.bxml.verbs import Transfer
from switchboard.calls import bridge, state, transfer
from switchboard.calls.feed import CallFeed
from switchboard.calls.model import Call
from switchboard.clock import Clock
from switchboard.limits.call_bounds import CallBounds
from switchboard.network import base as net
from switchboard.recordings.storage import MediaStorage
from switchboard.recordings.store import RecordingStore
from switchboard.store.base import Store
from switchboard.webhooks.dispatch import Dispatcher
from switchboard.webhooks.request import DeliveryResult

T = TypeVar("T")


@dataclass
class EngineServices:
    store: Store
    network: net.Network
    clock: Clock
    activity: Activity
    finished: Callable[[str], None]
    dispatcher: Dispatcher  # every webhook goes through it (the outbox), never straight out
    # The live feed of timeline entries (the web console's); None: nobody listens.
    feed: CallFeed | None = None
    # The bus: post a message to another call's runner (nothing happens if it has ended).
    post: Callable[[str, Any], bool] = lambda _call_id, _message: False
    # Store and dial a <Transfer>'s targets: (the targets' callIds and destinations, and the
    # reasons of those the account's limits refused).
    start_targets: (
        Callable[[Call, Transfer, str | None], Awaitable[tuple[list[tuple[str, str]], list[str]]]]
        | None
    ) = None
    # Where recordings' rows and media go (None: this server records nothing).
    recordings: tuple[RecordingStore, MediaStorage] | None = None
    # What one call may cost: the BXML loop guard and the timeline's size ([calls]).
    bounds: CallBounds = field(default_factory=CallBounds)
    # Count a start against an account's calls per second without refusing it (<Forward>).
    count_start: Callable[[str], None] = lambda _account_id: None


# Events a runner handles besides the network's own.
@dataclass(frozen=True, slots=True)
class AnswerTimeout:
    pass


@dataclass(frozen=True, slots=True)
class InterpreterTimer:
    timer_id: str


@dataclass(frozen=True, slots=True)
class CallbackDone:
    """A webhook delivery finished. `token` ties a BXML callback to the request that sent it."""

    event_type: str
    payload: dict[str, object]
    result: DeliveryResult
    expects_bxml: bool
    token: int


@dataclass(frozen=True, slots=True)
class NewBxml:
    """BXML from outside the document (PUT /bxml): replaces what the call is executing."""

    document: Any


@dataclass(frozen=True, slots=True)
class ExternalRedirect:
    """updateCall with state=active and a redirectUrl."""

    request: RedirectRequest


@dataclass(frozen=True, slots=True)
class Joined:
    """To a transfer target: the original call `peer` joined it; they hear each other."""

    peer: str


@dataclass(frozen=True, slots=True)
class BridgeRequest:
    """To a call another call's <Bridge> names: join `owner` (or refuse, saying why)."""

    owner: str
    account_id: str
    verb: BridgeVerb


@dataclass(frozen=True, slots=True)
class VoiceHeard:
    """A tap heard someone speak (for <Record silenceTimeout>)."""

    voice: net.Voice


@dataclass(frozen=True, slots=True)
class SilenceCheck:
    pass


@dataclass(frozen=True, slots=True)
class RecordingState:
    """PUT .../calls/{callId}/recording: `paused` or `recording`."""

    state: str


@dataclass(frozen=True, slots=True)
class TransferGo:
    """To a transfer target that answered: it won; run the transferAnswer BXML."""


@dataclass(frozen=True, slots=True)
class ForwardLegEvent:
    """What the network reports of the second leg <Forward> placed for this call."""

    event: net.LegEvent


@dataclass(frozen=True, slots=True)
class ForwardTimeout:
    pass


@dataclass(frozen=True, slots=True)
class OwnerLeft:
    """To a bridge target: the call that bridged it left (hung up or got new BXML)."""

    owner: str


@dataclass(frozen=True, slots=True)
class TagUpdate:
    """updateCall with only a tag: later callbacks carry it ("" clears it)."""

    tag: str


RunnerEvent = (
    net.LegEvent
    | AnswerTimeout
    | InterpreterTimer
    | CallbackDone
    | NewBxml
    | ExternalRedirect
    | TagUpdate
    | Joined
    | BridgeRequest
    | OwnerLeft
    | ForwardLegEvent
    | ForwardTimeout
    | TransferGo
    | VoiceHeard
    | SilenceCheck
    | RecordingState
    | bridge.Accepted
    | bridge.Refused
    | bridge.PeerLeft
    | transfer.TargetAnswered
    | transfer.TargetReady
    | transfer.TargetEnded
    | state.End
)


class Mailbox(Generic[T]):
    """A runner's events, first in first out: asyncio.Queue without what a runner never uses
    (a size limit, waiting putters, task_done/join), which cost more than the rest of starting
    a call. One task reads it; anything on the event loop's thread puts."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: deque[T] = deque()
        self._waiter: asyncio.Future[None] | None = None

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[T]:
        return iter(self._items)

    def put(self, item: T) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> T:
        while not self._items:
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        return self._items.popleft()


# A new errorId: the id of an error a call reports, in its End and its callbacks.
def _id() -> str:
    return str(uuid.uuid4())
