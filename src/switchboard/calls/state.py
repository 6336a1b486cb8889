"""The call state machine, as a table. Everything that decides a call's state lives here.

    queued ──Dial──► initiated ──Answer──► answered
       │                 │                    │
       └──End(cause)─────┴──End(cause)────────┴──► disconnected

Pure: `advance(call, event, now)` returns the new Call or raises IllegalTransition and changes
nothing. Times are set as Bandwidth sets them: startTime when the call is placed, answerTime on
answer, endTime when it ends; lastUpdate on every change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from switchboard.calls.model import ANSWERED, DISCONNECTED, INITIATED, QUEUED, Call

# Bandwidth's disconnect causes (disconnect.mdx). Others may appear later; these are ours.
CAUSES = frozenset(
    {
        "hangup",
        "busy",
        "timeout",
        "cancel",
        "rejected",
        "callback-error",
        "invalid-bxml",
        "application-error",
        "account-limit",
        "node-capacity-exceeded",
        "error",
        "unknown",
    }
)


@dataclass(frozen=True, slots=True)
class Dial:
    """The call leaves the queue and is placed on the network."""


@dataclass(frozen=True, slots=True)
class Answer:
    """The callee answered."""


@dataclass(frozen=True, slots=True)
class End:
    """The call is over, for `cause`; errors carry a message a developer can act on."""

    cause: str
    error_message: str | None = None
    error_id: str | None = None


Event = Dial | Answer | End

TRANSITIONS: dict[str, dict[type[Event], str]] = {
    QUEUED: {Dial: INITIATED, End: DISCONNECTED},
    INITIATED: {Answer: ANSWERED, End: DISCONNECTED},
    ANSWERED: {End: DISCONNECTED},
    DISCONNECTED: {},
}


class IllegalTransition(Exception):
    def __init__(self, state: str, event: Event) -> None:
        super().__init__(f"{type(event).__name__} is not possible in state {state}")
        self.state = state
        self.event = event


def can(call: Call, event: Event) -> bool:
    return type(event) in TRANSITIONS[call.state]


def created_state(placed: bool, now: datetime) -> tuple[str, datetime | None]:
    """A new call's state and startTime: placed at once (its Dial happens as it is created, so
    it is stored as `advance(call, Dial(), now)` would make it) or queued until its account's
    limits let it dial."""
    return (INITIATED, now) if placed else (QUEUED, None)


def advance(call: Call, event: Event, now: datetime) -> Call:
    target = TRANSITIONS[call.state].get(type(event))
    if target is None:
        raise IllegalTransition(call.state, event)
    if isinstance(event, Dial):
        return call.evolve(state=target, start_time=now, last_update=now)
    if isinstance(event, Answer):
        return call.evolve(state=target, answer_time=now, last_update=now)
    if event.cause not in CAUSES:
        raise ValueError(f"unknown disconnect cause {event.cause!r}")
    return call.evolve(
        state=target,
        end_time=now,
        disconnect_cause=event.cause,
        error_message=event.error_message,
        error_id=event.error_id,
        last_update=now,
    )
