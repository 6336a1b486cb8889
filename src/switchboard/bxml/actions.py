"""What the interpreter asks the engine to do: media, timers, the tag, callbacks, hanging up.

Contract with the engine: every media action (Speak, Play, Silence, RingTone, SendDigits) is
answered by one MediaFinished, unless StopMedia stopped it first, in which case none is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .speech import voice_profile
from .verbs import (
    Bridge,
    Forward,
    PlayAudio,
    Record,
    SpeakSentence,
    StartRecording,
    Transfer,
)

HangupCause = Literal["hangup", "application-error", "invalid-bxml", "callback-error"]


@dataclass(frozen=True, slots=True)
class Speak:
    """Speak `text` (an SSML fragment); `plain_text` is the same without tags. With a named
    voice, gender and locale are that voice's."""

    text: str
    plain_text: str
    voice: str | None
    gender: str
    locale: str


@dataclass(frozen=True, slots=True)
class Play:
    url: str
    username: str | None = None
    password: str | None = None


@dataclass(frozen=True, slots=True)
class Silence:
    """<Pause>: play nothing for this long."""

    seconds: float


@dataclass(frozen=True, slots=True)
class RingTone:
    """<Ring>: play ringing for this long."""

    seconds: float


@dataclass(frozen=True, slots=True)
class SendDigits:
    """Play DTMF tones. Besides digits, `digits` may hold pauses: each w, W or ',' replaces one
    tone interval (Bandwidth: with toneInterval 300, "1w2" plays 2 500 ms after 1)."""

    digits: str
    tone_duration_ms: float
    tone_interval_ms: float


@dataclass(frozen=True, slots=True)
class StopMedia:
    """Stop the media playing now; no MediaFinished follows for it."""


@dataclass(frozen=True, slots=True)
class StartTimer:
    timer_id: str
    seconds: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    timer_id: str


@dataclass(frozen=True, slots=True)
class SetTag:
    """The call's tag changed (None: cleared); the disconnect event must carry it too."""

    tag: str | None


@dataclass(frozen=True, slots=True)
class SendCallback:
    """Deliver a webhook. `fields` holds the event's own fields plus `tag` when one is set; the
    engine adds the common ones (eventType, eventTime, accountId, callId, ...). When
    `expects_bxml`, the engine answers with CallbackAnswered or CallbackFailed."""

    event_type: str
    url: str
    method: str
    fallback_url: str | None
    fallback_method: str
    username: str | None
    password: str | None
    fallback_username: str | None
    fallback_password: str | None
    fields: dict[str, object]
    expects_bxml: bool


@dataclass(frozen=True, slots=True)
class Hangup:
    """End the call with this disconnect cause (and errorMessage)."""

    cause: HangupCause
    error_message: str | None = None


@dataclass(frozen=True, slots=True)
class AnswerCall:
    """Answer an unanswered inbound call (before the media that needs it)."""


@dataclass(frozen=True, slots=True)
class StartTransfer:
    """<Transfer>: ring its targets; the engine answers with TransferFinished when it is over
    (unless StopTransfer came first)."""

    verb: Transfer


@dataclass(frozen=True, slots=True)
class StopTransfer:
    """New BXML interrupted the <Transfer>: end its targets; no TransferFinished follows."""


@dataclass(frozen=True, slots=True)
class StartBridge:
    """<Bridge>: join the target call; the engine answers with BridgeFinished when the bridge
    is over or could not be made (unless StopBridge came first)."""

    verb: Bridge


@dataclass(frozen=True, slots=True)
class StopBridge:
    """New BXML interrupted the <Bridge>: this call leaves it; no BridgeFinished follows."""


@dataclass(frozen=True, slots=True)
class StartForward:
    """<Forward>: hand the call to another number; no more BXML runs on it."""

    verb: Forward


@dataclass(frozen=True, slots=True)
class StartRecord:
    """<Record>: start recording the call; the interpreter stops it (StopRecord) on a
    terminating digit, its maxDuration timer or RecordSilence."""

    verb: Record


@dataclass(frozen=True, slots=True)
class StopRecord:
    """End the <Record>'s recording (`reason`: digit, max-duration, silence, interrupted); the
    engine answers with RecordFinished once it is saved (not when `interrupted`)."""

    reason: str


@dataclass(frozen=True, slots=True)
class StartCallRecording:
    """<StartRecording>: record the call in the background (one at a time)."""

    verb: StartRecording


@dataclass(frozen=True, slots=True)
class PauseCallRecording:
    pass


@dataclass(frozen=True, slots=True)
class ResumeCallRecording:
    pass


@dataclass(frozen=True, slots=True)
class StopCallRecording:
    pass


@dataclass(frozen=True, slots=True)
class DocumentEnded:
    """The document ran out of verbs on a call whose end of BXML is not a hangup (a transfer
    target: its transferAnswer BXML is over, so it is joined to the original call)."""


Action = (
    Speak
    | Play
    | Silence
    | RingTone
    | SendDigits
    | StopMedia
    | StartTimer
    | CancelTimer
    | SetTag
    | SendCallback
    | Hangup
    | AnswerCall
    | StartTransfer
    | StopTransfer
    | StartBridge
    | StopBridge
    | StartForward
    | StartRecord
    | StopRecord
    | StartCallRecording
    | PauseCallRecording
    | ResumeCallRecording
    | StopCallRecording
    | DocumentEnded
)


def play_prompt(verb: SpeakSentence | PlayAudio) -> Speak | Play:
    """The media action for a <SpeakSentence> or <PlayAudio>."""
    if isinstance(verb, PlayAudio):
        return Play(verb.url, verb.username, verb.password)
    gender, locale = voice_profile(verb.voice, verb.gender, verb.locale)
    return Speak(verb.text, verb.plain_text, verb.voice, gender, locale)
