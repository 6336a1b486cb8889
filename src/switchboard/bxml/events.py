"""What the engine tells the interpreter: media finished, a digit, a timer, a callback's outcome."""

from __future__ import annotations

from dataclasses import dataclass

from .actions import HangupCause
from .verbs import Document


@dataclass(frozen=True, slots=True)
class MediaFinished:
    """The Speak, Play, Silence, RingTone or SendDigits the interpreter asked for has finished.

    Not sent for media stopped by StopMedia.
    """


@dataclass(frozen=True, slots=True)
class DigitPressed:
    """The far end pressed a DTMF digit (one of 0-9 * # A-D)."""

    digit: str


@dataclass(frozen=True, slots=True)
class TimerFired:
    """A timer started with StartTimer ran out (and was not cancelled)."""

    timer_id: str


@dataclass(frozen=True, slots=True)
class CallbackAnswered:
    """A callback that expects BXML was answered: with this document, or None for an empty 2xx
    body (no new BXML). The engine parses the body with the callback's URL as base URL."""

    document: Document | None


@dataclass(frozen=True, slots=True)
class CallbackFailed:
    """A callback that expects BXML failed for good (after retries and fallback): the call ends
    with this cause, e.g. callback-error (undeliverable) or invalid-bxml (unparseable answer)."""

    cause: HangupCause
    message: str


@dataclass(frozen=True, slots=True)
class TransferFinished:
    """The <Transfer> is over and the call is still up: `cause` is how it ended (the winner
    hung up, or every target failed), for transferComplete."""

    cause: str
    transfer_to: str | None = None
    transfer_caller_id: str | None = None
    error_message: str | None = None
    error_id: str | None = None


@dataclass(frozen=True, slots=True)
class BridgeFinished:
    """The <Bridge> is over while this call is up: the target left (`hangup`), or it could not
    be bridged (cause `unknown` with an errorMessage), for bridgeComplete."""

    cause: str
    error_message: str | None = None
    error_id: str | None = None


@dataclass(frozen=True, slots=True)
class RecordSilence:
    """Nobody spoke for the <Record>'s silenceTimeout."""


@dataclass(frozen=True, slots=True)
class RecordFinished:
    """The <Record>'s recording is saved: recordComplete's own fields (recordingId, mediaUrl,
    startTime, endTime, duration, channels, fileFormat...)."""

    fields: dict[str, object]


Event = (
    MediaFinished
    | DigitPressed
    | TimerFired
    | CallbackAnswered
    | CallbackFailed
    | TransferFinished
    | BridgeFinished
    | RecordSilence
    | RecordFinished
)
