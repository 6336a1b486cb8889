"""One `<Bridge>`'s relationship, as a table, owned by the call that ran the verb (A).

    requested ──Accepted──► joined ──PeerLeft──► ended (Finished: bridgeComplete on A)
        │ Refused ─────────────────────────────► ended (Finished with the reason)
        └──────────── Leave (A hangs up or gets new BXML) ─► ended (OwnerLeft to the target)

The target (B) answers A's request itself, from its own mailbox: it may refuse (it is an
outbound call not answered yet, already bridged, ...). While joined, whichever leaves first tells
the other: B leaving gives A bridgeComplete (bridge.mdx); A leaving gives B bridgeTargetComplete
or, without that URL, B's hangup. Pure, like calls/transfer.py: a message that no longer fits
changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum


class Phase(Enum):
    REQUESTED = "requested"
    JOINED = "joined"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class Accepted:
    target: str


@dataclass(frozen=True, slots=True)
class Refused:
    target: str
    reason: str


@dataclass(frozen=True, slots=True)
class PeerLeft:
    """The target hung up or got new BXML."""

    target: str


@dataclass(frozen=True, slots=True)
class Leave:
    """A hangs up or gets new BXML."""


Message = Accepted | Refused | PeerLeft | Leave


@dataclass(frozen=True, slots=True)
class Joined:
    target: str


@dataclass(frozen=True, slots=True)
class Finished:
    """The bridge is over and A is still up: bridgeComplete (or the verbs after <Bridge>)."""

    cause: str
    error_message: str | None = None


@dataclass(frozen=True, slots=True)
class TellOwnerLeft:
    """A left: the target runs bridgeTargetComplete's BXML, or hangs up without one."""

    target: str


Effect = Joined | Finished | TellOwnerLeft


@dataclass(frozen=True, slots=True)
class Bridge:
    target: str
    phase: Phase = Phase.REQUESTED


def step(bridge: Bridge, message: Message) -> tuple[Bridge, list[Effect]]:
    if bridge.phase is Phase.ENDED:
        return bridge, []
    ended = replace(bridge, phase=Phase.ENDED)
    match message:
        case Leave():
            # Told even while only requested: a target that accepts after A left must not
            # stay joined to nobody.
            return ended, [TellOwnerLeft(bridge.target)]
        case Accepted(target=target) if target == bridge.target and (
            bridge.phase is Phase.REQUESTED
        ):
            return replace(bridge, phase=Phase.JOINED), [Joined(target)]
        case Refused(target=target, reason=reason) if target == bridge.target and (
            bridge.phase is Phase.REQUESTED
        ):
            # bridgeComplete.mdx: cause is "busy, rejected, or unknown"; a refusal is unknown.
            return ended, [Finished("unknown", reason)]
        case PeerLeft(target=target) if target == bridge.target:
            return ended, [Finished("hangup")]
    return bridge, []
