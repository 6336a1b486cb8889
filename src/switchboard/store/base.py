"""The `Store` seam: what the API and the engine need from persistence, nothing more."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from switchboard.calls.listing import CallFilter, PageCursor
from switchboard.calls.model import Call
from switchboard.calls.timeline import TimelineEntry
from switchboard.provisioning.models import Snapshot
from switchboard.webhooks.outbox import OutboxEntry


class Store(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    def provisioning_changed(self) -> bool:
        """Cheap, synchronous: has provisioning changed (here or in another process) since the
        last `load_provisioning()`? Checked on every authenticated request."""
        ...

    async def load_provisioning(self) -> Snapshot: ...

    async def insert_call(self, call: Call) -> None:
        """Durably store a new call; returns only once it is committed."""
        ...

    async def save_call(
        self,
        call: Call,
        timeline: Sequence[TimelineEntry] = (),
        event: OutboxEntry | None = None,
    ) -> int | None:
        """Durably store a call's new state, with its new timeline entries and the event it now
        owes (in one transaction). Returns the event's outbox id."""
        ...

    async def record_event(self, event: OutboxEntry) -> int:
        """Durably store an event before it is sent; returns its outbox id."""
        ...

    async def finish_event(self, event_id: int, status: str, attempts: int) -> None: ...

    async def pending_events(self) -> list[OutboxEntry]: ...

    def pending_event_count(self) -> int:
        """Cheap, synchronous (for /metrics): events recorded and not yet finished."""
        ...

    async def get_call(self, call_id: str) -> Call | None: ...

    async def list_calls(
        self,
        account_id: str,
        call_filter: CallFilter,
        limit: int,
        after: PageCursor | None,
        retained_since: str,
    ) -> list[dict[str, Any]]:
        """Up to `limit` calls of the account, oldest first, that ended after `retained_since`
        (or have not ended), as stored: `Call.to_row` dicts (`Call.from_row` reads one back;
        listCalls reads them as they are, see `calls.views.call_state_from_row`)."""
        ...

    async def purge_calls(self, ended_before: str) -> int: ...

    async def calls_in_states(self, states: Sequence[str]) -> list[Call]:
        """Calls the engine must (re)drive, e.g. after a restart."""
        ...

    async def adopt_calls(self, states: Sequence[str]) -> tuple[list[Call], list[OutboxEntry]]:
        """The calls in `states` and the pending events this node must now drive: at start,
        those a previous run left behind; on many nodes also, at any time, those of a node
        whose lease ran out (each adopted by one node only)."""
        ...

    async def append_timeline(self, call_id: str, entries: Sequence[TimelineEntry]) -> None: ...

    async def timeline(
        self, call_id: str, after: int = 0, limit: int = -1
    ) -> list[TimelineEntry]: ...

    async def last_timeline_sequence(self, call_id: str) -> int:
        """The sequence of the call's last stored timeline entry (0 when there is none)."""
        ...


class Fenced(Exception):
    """This node lost its lease: another node owns its calls now, and it must not write over
    them or send their events (DESIGN.md, "Scale-out")."""
