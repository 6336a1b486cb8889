"""Admission control for one node under overload (issue 18, "No collapse under overload"): the
`[overload]` settings, and the pure decision whether this node takes a new call now.

Without it, an open-loop load beyond the core's capacity admits every call; each one then
lives its life (ringing, webhooks, BXML, the store) on a loop that is already behind, so every
call gets slower, more of them are alive at once, and create-call swung between 20 and
1,000 req/s with multi-second p99 and timeouts. With it, when the node falls behind, *new*
calls are refused at once (Bandwidth's 503 `system-overloaded`, "Managing too many concurrent
calls", errors.mdx) and the calls already admitted keep their timing.

Three measurements, each with its own limit (0 turns that one off):
- live calls on this node (running, or admitted and being stored) against `max_live_calls`,
  the node's capacity: exact and immediate, like an account's concurrent limit; a place frees
  the moment a call ends.
- the event loop's lag (how late a timer of the probe fired, limits/overload_probe.py)
  against `max_loop_lag_seconds`, and
- the backlog: events waiting in calls' mailboxes, delivered but not yet handled, against
  `max_backlog` (a loop that is on time but whose calls wait for a slow store shows here).
  These two are noisy, so they go through hysteresis: the node becomes overloaded after
  ENTER_PROBES probes in a row over a limit, and takes calls again after LEAVE_PROBES probes
  in a row under RESUME_RATIO of every limit (a band between, where it stays as it is).

A call already in its account's queue (limits/account.py) whose turn comes while the node has
no room waits: a short overload only delays it. Once the node has had no room for
`queued_call_wait_seconds` in a row, each queued call whose turn comes ends instead, with the
disconnect cause Bandwidth uses for capacity, `node-capacity-exceeded` (disconnect.mdx).

Nothing here reads a clock or does IO: measurements and times are passed in.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

CAUSE = "node-capacity-exceeded"  # disconnect.mdx: "the system maximum capacity was reached"
# errors.mdx's 503 body: {"type": "system-overloaded", "description": "Managing too many
# concurrent calls", "id": null}. Ours starts the same and then says why and what to do.
BANDWIDTH_DESCRIPTION = "Managing too many concurrent calls"
CAPACITY = "capacity"
LOOP_LAG = "loop-lag"
BACKLOG = "backlog"
ENTER_PROBES = 2  # one late probe is a GC pause or a neighbour, not overload
LEAVE_PROBES = 2
RESUME_RATIO = 0.5  # under half of each limit counts as caught up
RECHECK_SECONDS = 1.0  # how often a blocked queue asks again (call time)


class OverloadConfigError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class OverloadSettings:
    # Calls this node may run at once (any account, either direction, transfer targets too,
    # which are never refused: they belong to an admitted call); 0: no cap. ~10 KB of memory
    # each when idle (docs/benchmarks.md, Concurrency).
    max_live_calls: int = 20_000
    # The loop lag (seconds) over which the node is falling behind; 0: not measured.
    max_loop_lag_seconds: float = 0.5
    # Events waiting in calls' mailboxes over which the node is falling behind; 0: off.
    max_backlog: int = 10_000
    # How often the probe measures the lag and the backlog (real seconds).
    probe_interval_seconds: float = 0.1
    # How long (call time) a queued call whose turn has come waits for room on the node
    # before it ends with node-capacity-exceeded.
    queued_call_wait_seconds: float = 30.0
    # Retry-After of the 503 (seconds).
    retry_after_seconds: int = 1


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the node takes no new call now."""

    reason: str  # CAPACITY, LOOP_LAG or BACKLOG (a label on /metrics)
    why: str  # what a person can act on, without Bandwidth's lead-in
    retry_after: int

    @property
    def description(self) -> str:
        """The 503's description (and an inbound call's refusal)."""
        return f"{BANDWIDTH_DESCRIPTION}: {self.why}; retry in a few seconds, or on another node"


@dataclass(frozen=True, slots=True)
class QueuedTurn:
    """What happens to a queued call whose turn has come: placed (both None), `wait` more
    seconds for room, or `end` with node-capacity-exceeded and this message."""

    wait: float | None = None
    end: str | None = None


PLACE = QueuedTurn()


class OverloadGate:
    """The node's admission state: fed by the probe (`observe`), asked on every new call
    (`refusal`, O(1)) and by the queue (`queued_turn`)."""

    def __init__(self, settings: OverloadSettings) -> None:
        self.settings = settings
        self._capacity = Refusal(
            CAPACITY,
            f"this Switchboard node is running {settings.max_live_calls} calls, its capacity "
            "([overload] max_live_calls)",
            settings.retry_after_seconds,
        )
        self.behind: Refusal | None = None  # set while the lag or the backlog says overloaded
        self._over = 0  # probes in a row over a limit (while not overloaded)
        self._under = 0  # probes in a row under the resume level (while overloaded)
        self._blocked_since: float | None = None  # since when queued calls found no room
        self.last_lag = 0.0
        self.last_backlog = 0
        # (path, reason) -> calls refused; path: create, inbound, queued.
        self.refused: Counter[tuple[str, str]] = Counter()

    # -- measurements -----------------------------------------------------------------------
    def observe(self, lag: float, backlog: int) -> None:
        """One probe: the loop was `lag` seconds late, `backlog` events wait in mailboxes."""
        self.last_lag = lag
        self.last_backlog = backlog
        settings = self.settings
        lag_limit = settings.max_loop_lag_seconds
        backlog_limit = settings.max_backlog
        lag_over = lag_limit > 0 and lag >= lag_limit
        backlog_over = backlog_limit > 0 and backlog >= backlog_limit
        if self.behind is None:
            self._over = self._over + 1 if lag_over or backlog_over else 0
            if self._over >= ENTER_PROBES:
                self._over = 0
                self.behind = self._behind(lag, backlog, lag_over)
            return
        caught_up = (lag_limit <= 0 or lag <= lag_limit * RESUME_RATIO) and (
            backlog_limit <= 0 or backlog <= backlog_limit * RESUME_RATIO
        )
        self._under = self._under + 1 if caught_up else 0
        if self._under >= LEAVE_PROBES:
            self._under = 0
            self.behind = None

    def _behind(self, lag: float, backlog: int, lag_over: bool) -> Refusal:
        settings = self.settings
        if lag_over:
            return Refusal(
                LOOP_LAG,
                f"this Switchboard node is falling behind (its event loop runs {lag * 1000:.0f} "
                f"ms late, over the {settings.max_loop_lag_seconds * 1000:.0f} ms of "
                "[overload] max_loop_lag_seconds), so it takes no new calls until it catches up",
                settings.retry_after_seconds,
            )
        return Refusal(
            BACKLOG,
            f"this Switchboard node is falling behind ({backlog} call events wait to be "
            f"handled, over the {settings.max_backlog} of [overload] max_backlog), so it takes "
            "no new calls until it catches up",
            settings.retry_after_seconds,
        )

    # -- decisions --------------------------------------------------------------------------
    def check(self, live_calls: int) -> Refusal | None:
        """Why a new call is refused now, or None; counts nothing."""
        cap = self.settings.max_live_calls
        if cap > 0 and live_calls >= cap:
            return self._capacity
        return self.behind

    def refusal(self, live_calls: int, path: str) -> Refusal | None:
        """Why a new call arriving by `path` is refused now (counted), or None. `live_calls`:
        those running on this node or admitted and not yet running."""
        refusal = self.check(live_calls)
        if refusal is not None:
            self.refused[(path, refusal.reason)] += 1
        return refusal

    def queued_turn(self, now: float, live_calls: int) -> QueuedTurn:
        """A queued call's turn came at `now` (call time): place it, let it wait, or end it.
        A short overload only delays queued calls; one that lasts `queued_call_wait_seconds`
        ends each queued call whose turn comes, until the node has room again."""
        refusal = self.check(live_calls)
        if refusal is None:
            self._blocked_since = None
            return PLACE
        if self._blocked_since is None:
            self._blocked_since = now
        bound = self.settings.queued_call_wait_seconds
        waited = now - self._blocked_since
        if waited < bound:
            return QueuedTurn(wait=min(RECHECK_SECONDS, bound - waited))
        self.refused[("queued", refusal.reason)] += 1
        return QueuedTurn(
            end=(
                f"The call could not be placed: {refusal.why}, for longer than the "
                f"{bound:g} s a queued call waits for room ([overload] queued_call_wait_seconds)"
            )
        )


def parse_overload(table: dict[str, Any]) -> OverloadSettings:
    """The `[overload]` table; every key optional."""
    defaults = OverloadSettings()
    integers = ("max_live_calls", "max_backlog", "retry_after_seconds")
    numbers = ("max_loop_lag_seconds", "probe_interval_seconds", "queued_call_wait_seconds")
    unknown = sorted(set(table) - set(integers) - set(numbers))
    if unknown:
        raise OverloadConfigError(
            f"[overload]: unknown key(s) {', '.join(unknown)}; known keys are "
            f"{', '.join(integers + numbers)}"
        )
    values: dict[str, Any] = {}
    for key in integers + numbers:
        value = table.get(key, getattr(defaults, key))
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise OverloadConfigError(f"overload.{key} must be a number, got {value!r}")
        if key in integers and not isinstance(value, int):
            raise OverloadConfigError(f"overload.{key} must be a whole number, got {value!r}")
        if not 0 <= value < 1e9:  # TOML has inf and nan: neither is a limit
            raise OverloadConfigError(f"overload.{key} must be 0 or more, got {value!r}")
        values[key] = value if key in integers else float(value)
    if not 0.01 <= values["probe_interval_seconds"] <= 60:
        raise OverloadConfigError(
            "overload.probe_interval_seconds must be from 0.01 to 60, got "
            f"{values['probe_interval_seconds']!r}"
        )
    if values["retry_after_seconds"] < 1:
        raise OverloadConfigError("overload.retry_after_seconds must be at least 1")
    return OverloadSettings(**values)
