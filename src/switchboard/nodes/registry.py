"""One node among many on PostgreSQL: its lease, and the calls of nodes that lost theirs.

Every `heartbeat_seconds` the node renews its lease in the `nodes` table (a time of the
database's clock, `lease_seconds` ahead), then adopts what nobody drives any more: the calls
and pending events of nodes whose lease ran out (store/postgres.py `adopt_calls`, one survivor
per call), ended or requeued as a restart does (calls/engine.py `adopt`). The renewal also
says when the soonest lease of another node ends; when that is before the next heartbeat (a
node that stopped renewing), the node looks again right after it ends, so a dead node's calls
are taken over at the end of its lease, not up to a heartbeat later.

Fencing has two halves. In the database, every write about a call names the owner and its
epoch (store/postgres.py), so a node that lost its lease cannot overwrite the new owner. Here,
the node stops sending webhooks as soon as its lease *may* have run out: the lease it renewed
counts from when the renewal was sent (the database's deadline is later), so a node frozen
past its lease (SIGSTOP, a long GC, a lost network) sends nothing when it wakes, until a
renewal succeeds — and that renewal fails if its calls were taken: then it drops them and
joins again with a new epoch.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

from switchboard.calls.engine import Engine
from switchboard.calls.model import ANSWERED, INITIATED, QUEUED
from switchboard.nodes.settings import NodeSettings
from switchboard.store.postgres import PostgresStore

logger = logging.getLogger("switchboard.nodes")
LIVE_STATES = (QUEUED, INITIATED, ANSWERED)


# How long after another node's lease ends (as its last renewal said) this node looks for its
# calls: the two clocks are the database's, read a round trip apart.
ADOPT_MARGIN_SECONDS = 0.05


def next_wake(next_beat: float, adopt_at: float | None) -> tuple[float, bool]:
    """When the heartbeat task wakes next, and whether to beat then (True) or only to adopt
    the calls of a node whose lease has just ended (False)."""
    if adopt_at is not None and adopt_at < next_beat:
        return adopt_at, False
    return next_beat, True


class NodeStartError(RuntimeError):
    """This node cannot join the others (the message says what to do)."""


class NodeRegistry:
    def __init__(
        self,
        store: PostgresStore,
        engine: Engine,
        node_id: str,
        address: str,
        settings: NodeSettings,
        monotonic: Callable[[], float],
        key_files: dict[str, Path] | None = None,
    ) -> None:
        self.store = store
        self.engine = engine
        self.node_id = node_id
        self.address = address
        self.settings = settings
        self._monotonic = monotonic
        self._lease_ends = 0.0  # on this node's monotonic clock (see the module docstring)
        self._task: asyncio.Task[None] | None = None
        self.draining = False
        self.takeovers = 0  # calls adopted from other nodes (for /metrics and tests)
        # Keys every node must hold the same of (tokens one node signs, others verify;
        # passwords one node seals, others open): checked by fingerprint when joining.
        self.key_files = key_files or {}

    @property
    def epoch(self) -> int | None:
        return self.store.epoch

    def holds_lease(self) -> bool:
        return self._monotonic() < self._lease_ends

    async def join(self) -> None:
        """Register (a new epoch) before the engine starts: the engine then adopts this node's
        own calls of earlier epochs as a restart does."""
        await self._check_keys()
        sent = self._monotonic()
        epoch = await self.store.register_node(
            self.node_id, self.address, self.settings.lease_seconds
        )
        self._lease_ends = sent + self.settings.lease_seconds
        logger.info("node %s joined with epoch %d (%s)", self.node_id, epoch, self.address)

    async def _check_keys(self) -> None:
        fingerprints = {
            name: hashlib.sha256(path.read_bytes()).hexdigest()[:16]
            for name, path in self.key_files.items()
        }
        differing = await self.store.differing_keys(fingerprints)
        if differing:
            files = ", ".join(str(self.key_files[name]) for name in differing)
            raise NodeStartError(
                f"this node's {files} differ from the keys of the nodes already sharing the "
                "database: copy those files from a running node's data directory to this one's "
                "(docs/operations.md, Several nodes)"
            )

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="node-heartbeat")

    async def stop(self) -> None:
        """Leave: the lease ends now, so what is left here (queued calls) is adopted at once."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(Exception):
            await self.store.leave()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_beat = loop.time() + self.settings.heartbeat_seconds
        adopt_at: float | None = None
        while True:
            wake, beating = next_wake(next_beat, adopt_at)
            await asyncio.sleep(max(0.0, wake - loop.time()))
            adopt_at = None
            try:
                if beating:
                    next_beat = loop.time() + self.settings.heartbeat_seconds
                    expire_in = await self.beat()
                else:
                    expire_in = await self._adopt_between_beats()
                # Another node's lease ends before this node's next beat: adopt its calls then
                # (a little after, so its end has surely passed on the database's clock), not
                # up to a heartbeat later.
                if expire_in is not None:
                    adopt_at = loop.time() + expire_in + ADOPT_MARGIN_SECONDS
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the database is away: the lease runs down meanwhile
                logger.warning("node %s: heartbeat failed: %s", self.node_id, error)

    async def _adopt_between_beats(self) -> float | None:
        """A lease ended before this node's next beat: adopt what its node left, and say when
        the next one ends (another node may die within the same heartbeat)."""
        if not self.holds_lease() or self.draining:
            return None
        await self.adopt()
        return await self.store.next_lease_end()

    async def beat(self) -> float | None:
        """Renew the lease, then adopt what dead nodes left. Returns in how many seconds the
        soonest lease of another node ends (None: no other node, or this one lost its own)."""
        sent = self._monotonic()
        state = "draining" if self.draining else "live"
        heartbeat = await self.store.heartbeat(self.settings.lease_seconds, state)
        if not heartbeat.renewed:
            await self._rejoin()
            return None
        self._lease_ends = sent + self.settings.lease_seconds
        if self.draining:
            return None  # a draining node takes on nothing new
        await self.adopt()
        return heartbeat.others_expire_in

    async def adopt(self) -> None:
        """Take on the calls and pending events of nodes whose lease ran out."""
        calls, events = await self.store.adopt_calls(LIVE_STATES)
        if calls or events:
            self.takeovers += len(calls)
            logger.warning(
                "node %s adopted %d calls and %d pending events of nodes whose lease ran out",
                self.node_id,
                len(calls),
                len(events),
            )
            await self.engine.adopt(calls, events, "The Switchboard node running the call stopped")

    async def _rejoin(self) -> None:
        logger.error(
            "node %s lost its lease (epoch %s): its calls belong to another node now; "
            "dropping them and joining again",
            self.node_id,
            self.epoch,
        )
        self._lease_ends = 0.0
        self.engine.abandon_all()
        await self.join()

    async def forward_target(self, call_id: str) -> str | None:
        """The base URL of the other live node that runs `call_id`; None when this node runs
        it or nobody does (then this node answers, as one node would)."""
        if self.engine.get(call_id) is not None:
            return None
        # A call queued here may have been placed by another node since (the queue drains
        # across nodes): the database says whose it is.
        return await self.store.owner_address(call_id)
