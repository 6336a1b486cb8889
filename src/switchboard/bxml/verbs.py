"""The BXML verbs as typed, frozen values, one class per verb, with Bandwidth's defaults.

Field names are the attribute names in snake case (`gatherUrl` -> `gather_url`). URLs are already
resolved against the document's base URL. `line` and `column` say where the verb was written
(0 when built in code). A `tag` of None means the attribute was absent; "" means "clear the tag".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

HttpMethod = Literal["GET", "POST"]
Gender = Literal["male", "female"]
GatherInput = Literal["dtmf", "speech", "dtmf_speech"]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Verb:
    line: int = 0
    column: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeakSentence(_Verb):
    """Text to speech. `text` is the content as an SSML fragment (tags kept, character data
    XML-escaped); `plain_text` is the same without tags, whitespace collapsed."""

    text: str
    plain_text: str
    voice: str | None = None
    gender: Gender = "female"
    locale: str = "en_US"


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayAudio(_Verb):
    url: str
    username: str | None = None
    password: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Pause(_Verb):
    duration: float = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Ring(_Verb):
    duration: float = 5.0
    answer_call: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Hangup(_Verb):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Redirect(_Verb):
    redirect_url: str
    redirect_method: HttpMethod = "POST"
    redirect_fallback_url: str | None = None
    redirect_fallback_method: HttpMethod = "POST"
    username: str | None = None
    password: str | None = None
    fallback_username: str | None = None
    fallback_password: str | None = None
    tag: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Tag(_Verb):
    """Sets the tag; `value` None clears it (the content was empty or only whitespace)."""

    value: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SendDtmf(_Verb):
    """`digits` may hold the pause characters w, W and ',' as well as DTMF digits."""

    digits: str
    tone_duration: float = 200.0
    tone_interval: float = 400.0


Prompt = SpeakSentence | PlayAudio


@dataclass(frozen=True, slots=True, kw_only=True)
class Gather(_Verb):
    """Collects digits. The speech attributes the SDK writes are parsed and kept, but only DTMF
    is collected (see the interpreter for what `input` does)."""

    gather_url: str | None = None
    gather_method: HttpMethod = "POST"
    gather_fallback_url: str | None = None
    gather_fallback_method: HttpMethod = "POST"
    username: str | None = None
    password: str | None = None
    fallback_username: str | None = None
    fallback_password: str | None = None
    tag: str | None = None
    terminating_digits: str = ""
    max_digits: int = 50
    inter_digit_timeout: float = 5.0
    first_digit_timeout: float = 5.0
    repeat_count: int = 1
    input: GatherInput = "dtmf"
    hints: str | None = None
    language: str | None = None
    partial_result_callback: str | None = None
    partial_result_callback_method: HttpMethod = "POST"
    profanity_filter: bool = True
    speech_model: str | None = None
    speech_timeout: float = 5.0
    prompts: tuple[Prompt, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class StartGather(_Verb):
    dtmf_url: str
    dtmf_method: HttpMethod = "POST"
    username: str | None = None
    password: str | None = None
    tag: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StopGather(_Verb):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferTarget(_Verb):
    """A <PhoneNumber> or <SipUri> inside <Transfer>: whom to ring, and where its own
    transferAnswer and transferDisconnect events go."""

    kind: Literal["PhoneNumber", "SipUri"]
    destination: str  # E.164, or a sip: URI
    transfer_answer_url: str | None = None
    transfer_answer_method: HttpMethod = "POST"
    transfer_answer_fallback_url: str | None = None
    transfer_answer_fallback_method: HttpMethod = "POST"
    transfer_disconnect_url: str | None = None
    transfer_disconnect_method: HttpMethod = "POST"
    username: str | None = None
    password: str | None = None
    fallback_username: str | None = None
    fallback_password: str | None = None
    tag: str | None = None
    uui: str | None = None  # SipUri only


@dataclass(frozen=True, slots=True, kw_only=True)
class Transfer(_Verb):
    """bxml/transfer.mdx. `transfer_caller_id` None: pass along the remote party's number."""

    transfer_caller_id: str | None = None
    transfer_caller_display_name: str | None = None
    privacy: bool | None = None
    call_timeout: float = 30.0
    transfer_complete_url: str | None = None
    transfer_complete_method: HttpMethod = "POST"
    transfer_complete_fallback_url: str | None = None
    transfer_complete_fallback_method: HttpMethod = "POST"
    username: str | None = None
    password: str | None = None
    fallback_username: str | None = None
    fallback_password: str | None = None
    tag: str | None = None
    diversion_treatment: Literal["none", "propagate", "stack"] = "none"
    diversion_reason: str = "unknown"
    targets: tuple[TransferTarget, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Bridge(_Verb):
    """bxml/bridge.mdx: join the call `target_call` (another live call of the account)."""

    target_call: str
    bridge_complete_url: str | None = None
    bridge_complete_method: HttpMethod = "POST"
    bridge_complete_fallback_url: str | None = None
    bridge_complete_fallback_method: HttpMethod = "POST"
    bridge_target_complete_url: str | None = None
    bridge_target_complete_method: HttpMethod = "POST"
    bridge_target_complete_fallback_url: str | None = None
    bridge_target_complete_fallback_method: HttpMethod = "POST"
    username: str | None = None
    password: str | None = None
    fallback_username: str | None = None
    fallback_password: str | None = None
    tag: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Forward(_Verb):
    """bxml/forward.mdx: hand an inbound call to another number; the app's BXML is over."""

    to: str
    from_: str | None = None  # None: the original leg's `to`
    call_timeout: float = 30.0
    diversion_treatment: Literal["none", "propagate", "stack"] = "none"
    diversion_reason: str = "unknown"
    uui: str | None = None


FileFormat = Literal["wav", "mp3"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Record(_Verb):
    """bxml/record.mdx: record the caller until a terminating digit, silence or maxDuration."""

    record_complete_url: str | None = None
    record_complete_method: HttpMethod = "POST"
    record_complete_fallback_url: str | None = None
    record_complete_fallback_method: HttpMethod = "POST"
    recording_available_url: str | None = None
    recording_available_method: HttpMethod = "POST"
    transcribe: bool = False
    detect_language: bool = False
    transcription_available_url: str | None = None
    transcription_available_method: HttpMethod = "POST"
    username: str | None = None
    password: str | None = None
    fallback_username: str | None = None
    fallback_password: str | None = None
    tag: str | None = None
    terminating_digits: str = "#"
    max_duration: float = 60.0
    silence_timeout: float = 0.0  # 0: no timeout
    file_format: FileFormat = "wav"
    recording_name: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StartRecording(_Verb):
    """bxml/startRecording.mdx: record the call in the background until StopRecording/the end."""

    recording_available_url: str | None = None
    recording_available_method: HttpMethod = "POST"
    transcribe: bool = False
    detect_language: bool = False
    transcription_available_url: str | None = None
    transcription_available_method: HttpMethod = "POST"
    username: str | None = None
    password: str | None = None
    tag: str | None = None
    file_format: FileFormat = "wav"
    multi_channel: bool = False
    recording_name: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PauseRecording(_Verb):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ResumeRecording(_Verb):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class StopRecording(_Verb):
    pass


@dataclass(frozen=True, slots=True)
class UnsupportedVerb:
    """A verb Bandwidth has and Switchboard does not run yet; reaching it ends the call."""

    name: str
    line: int
    column: int


Verb = (
    SpeakSentence
    | PlayAudio
    | Pause
    | Ring
    | Hangup
    | Redirect
    | Tag
    | SendDtmf
    | Gather
    | StartGather
    | StopGather
    | Transfer
    | Bridge
    | Forward
    | Record
    | StartRecording
    | PauseRecording
    | ResumeRecording
    | StopRecording
    | UnsupportedVerb
)


@dataclass(frozen=True, slots=True)
class NoneAttribute:
    """An attribute whose value is exactly `None`, read as if it were absent: bandwidth-sdk
    15.0.0 to 16.0.0 writes its numeric and boolean attributes with str(), so every one its
    user left unset comes out as "None" (`<Gather maxDigits="None">`)."""

    verb: str
    name: str
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Document:
    """A parsed BXML document: its root (<Response> or <Bxml>) and its verbs in order, and the
    attributes written as "None" that were read as unset (to tell the app's author)."""

    verbs: tuple[Verb, ...]
    root: Literal["Response", "Bxml"] = "Response"
    base_url: str | None = None
    none_attributes: tuple[NoneAttribute, ...] = ()

    def none_attributes_note(self) -> dict[str, object] | None:
        """What the call's timeline says about the "None" attributes (None: there are none):
        one entry per document, naming each verb's attribute once."""
        if not self.none_attributes:
            return None
        names = list(dict.fromkeys(f"{a.verb} {a.name}" for a in self.none_attributes))
        return {"warning": NONE_ATTRIBUTE_WARNING, "attributes": names}


NONE_ATTRIBUTE_WARNING = (
    'attributes written as "None" were read as unset, so their defaults apply '
    "(bandwidth-sdk 15.0.0 to 16.0.0 writes every numeric or boolean attribute left unset that "
    "way; later versions leave it out)"
)
