"""One `<Transfer>`'s relationship, as a table: the original call (A) and its targets (B1..Bn).

    dialing ──TargetAnswered(b)──► answered(b) ──TargetReady(b)──► bridged(b)
       │                              │                               │
       └─ every target ended ─────────┴── b ended ────────────────────┴──► ended
    any phase ──Abandon──► ended (A hung up, or new BXML replaced the Transfer)

Pure: `step(transfer, message)` returns the new Transfer and the effects A's runner carries out.
It belongs to A (one owner per shared thing, DESIGN.md): targets report to A by posting
messages; a message that no longer fits (a second answer, a late end, anything after `ended`)
changes nothing, so every interleaving of the calls' events is safe.

- The first target to answer wins (Proceed: it may run its transferAnswer BXML); the others
  are cancelled at once (simultaneous ring).
- The winner's transferAnswer BXML runs on the winner alone; when it is over (TargetReady) the
  two calls are joined.
- The transfer ends when the winner leaves, or when every target ended before one answered; A
  then goes on (transferComplete, or the verbs after <Transfer>) with the cause of that end.
- Abandon ends every target still up: `cancel` for one still ringing, `hangup` for the winner.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum


class Phase(Enum):
    DIALING = "dialing"
    ANSWERED = "answered"  # the winner answered; its transferAnswer BXML runs
    BRIDGED = "bridged"
    ENDED = "ended"


# Messages (to A's runner: from its targets, or from A itself for Abandon).
@dataclass(frozen=True, slots=True)
class TargetAnswered:
    target: str


@dataclass(frozen=True, slots=True)
class TargetReady:
    """The target's transferAnswer BXML is over (or there was none): join it to A."""

    target: str


@dataclass(frozen=True, slots=True)
class TargetEnded:
    target: str
    cause: str
    error_message: str | None = None
    error_id: str | None = None


@dataclass(frozen=True, slots=True)
class Abandon:
    """A no longer wants the transfer: it ended, or new BXML interrupted the <Transfer>."""


Message = TargetAnswered | TargetReady | TargetEnded | Abandon


# Effects, for A's runner to carry out.
@dataclass(frozen=True, slots=True)
class EndTarget:
    target: str
    cause: str  # what the target's own disconnect (transferDisconnect) will say


@dataclass(frozen=True, slots=True)
class Proceed:
    """Tell the winner it won: only now does it run its transferAnswer BXML. A target that
    answers at the same moment as the winner never gets it, only its cancel."""

    target: str


@dataclass(frozen=True, slots=True)
class Join:
    """Open the room (A, target): each hears the other."""

    target: str


@dataclass(frozen=True, slots=True)
class Finished:
    """The transfer is over while A lives: A continues (transferComplete with this outcome)."""

    cause: str
    target: str | None  # the winner, or the last target to fail
    error_message: str | None = None
    error_id: str | None = None


Effect = Proceed | EndTarget | Join | Finished


@dataclass(frozen=True, slots=True)
class Transfer:
    targets: tuple[str, ...]
    phase: Phase = Phase.DIALING
    winner: str | None = None
    ended: frozenset[str] = frozenset()  # targets that reported their end

    @property
    def live_targets(self) -> tuple[str, ...]:
        return tuple(t for t in self.targets if t not in self.ended)


def start(targets: tuple[str, ...]) -> Transfer:
    """A transfer dialing `targets` (1 to 8), the ones the account's limits let ring. When the
    limits refused them all there is no transfer to start: the runner ends it at once."""
    return Transfer(targets)


def step(transfer: Transfer, message: Message) -> tuple[Transfer, list[Effect]]:
    if transfer.phase is Phase.ENDED:
        return transfer, []
    match message:
        case Abandon():
            return _abandon(transfer)
        case TargetEnded(target=target) if target in transfer.targets:
            return _target_ended(transfer, message)
        case TargetAnswered(target=target) if (
            transfer.phase is Phase.DIALING and target in transfer.live_targets
        ):
            others = [t for t in transfer.live_targets if t != target]
            answered = replace(transfer, phase=Phase.ANSWERED, winner=target)
            return answered, [Proceed(target), *(EndTarget(t, "cancel") for t in others)]
        case TargetReady(target=target) if (
            transfer.phase is Phase.ANSWERED and target == transfer.winner
        ):
            return replace(transfer, phase=Phase.BRIDGED), [Join(target)]
    return transfer, []  # late, duplicate or foreign: nothing changes


def _target_ended(transfer: Transfer, message: TargetEnded) -> tuple[Transfer, list[Effect]]:
    if message.target in transfer.ended:
        return transfer, []
    now = replace(transfer, ended=transfer.ended | {message.target})
    if transfer.phase is Phase.DIALING:
        if now.live_targets:
            return now, []  # others still ring
    elif message.target != transfer.winner:
        return now, []  # a cancelled loser finished ending
    finished = Finished(message.cause, message.target, message.error_message, message.error_id)
    return replace(now, phase=Phase.ENDED), [finished]


def _abandon(transfer: Transfer) -> tuple[Transfer, list[Effect]]:
    effects: list[Effect] = [
        EndTarget(t, "hangup" if t == transfer.winner else "cancel") for t in transfer.live_targets
    ]
    return replace(transfer, phase=Phase.ENDED), effects
