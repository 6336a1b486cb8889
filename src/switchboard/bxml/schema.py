"""What each BXML element accepts: its attributes (spelled as Bandwidth spells them, with their
coercers), its content, and the verbs Bandwidth has that Switchboard only recognises.

Defaults are not here: they live on the verb dataclasses, so there is one place to read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from . import attributes as a
from . import speech, verbs

# What may sit between a verb's tags.
Content = Literal["empty", "ssml", "url", "digits", "tag", "prompts", "targets", "call_id"]


@dataclass(frozen=True, slots=True)
class VerbSchema:
    verb: type[verbs.Verb] | type[verbs.TransferTarget]
    content: Content
    attributes: dict[str, a.Coerce] = field(default_factory=dict)
    required: frozenset[str] = frozenset()


_CALLBACK_CREDENTIALS: dict[str, a.Coerce] = {
    "username": a.string,
    "password": a.string,
    "fallbackUsername": a.string,
    "fallbackPassword": a.string,
}

_DIVERSION_REASONS = a.one_of(
    "unknown",
    "user-busy",
    "no-answer",
    "unavailable",
    "unconditional",
    "time-of-day",
    "do-not-disturb",
    "deflection",
    "follow-me",
    "out-of-service",
    "away",
)

SPEAK_SENTENCE = VerbSchema(
    verbs.SpeakSentence,
    "ssml",
    {"voice": speech.voice, "gender": a.one_of("male", "female"), "locale": speech.locale},
)
PLAY_AUDIO = VerbSchema(verbs.PlayAudio, "url", {"username": a.string, "password": a.string})

SCHEMAS: dict[str, VerbSchema] = {
    "SpeakSentence": SPEAK_SENTENCE,
    "PlayAudio": PLAY_AUDIO,
    "Pause": VerbSchema(verbs.Pause, "empty", {"duration": a.decimal(0.1, 86400)}),
    "Ring": VerbSchema(
        verbs.Ring, "empty", {"duration": a.decimal(0.1, 86400), "answerCall": a.boolean}
    ),
    "Hangup": VerbSchema(verbs.Hangup, "empty"),
    "Redirect": VerbSchema(
        verbs.Redirect,
        "empty",
        {
            "redirectUrl": a.url,
            "redirectMethod": a.http_method,
            "redirectFallbackUrl": a.url,
            "redirectFallbackMethod": a.http_method,
            **_CALLBACK_CREDENTIALS,
            "tag": a.tag,
        },
        required=frozenset({"redirectUrl"}),
    ),
    "Tag": VerbSchema(verbs.Tag, "tag"),
    "SendDtmf": VerbSchema(
        verbs.SendDtmf,
        "digits",
        {"toneDuration": a.decimal(50, 5000), "toneInterval": a.decimal(50, 5000)},
    ),
    "Gather": VerbSchema(
        verbs.Gather,
        "prompts",
        {
            "gatherUrl": a.url,
            "gatherMethod": a.http_method,
            "gatherFallbackUrl": a.url,
            "gatherFallbackMethod": a.http_method,
            **_CALLBACK_CREDENTIALS,
            "tag": a.tag,
            "terminatingDigits": a.dtmf_digits(
                allow_pauses=False, max_length=None, allow_empty=True
            ),
            "maxDigits": a.integer(1, 50),
            "interDigitTimeout": a.decimal(1, 60),
            "firstDigitTimeout": a.decimal(0, 60),
            "repeatCount": a.integer(1, 20),
            # Speech recognition, as the SDK models it; gather.mdx does not document these.
            "input": a.one_of("dtmf", "speech", "dtmf_speech"),
            "hints": a.string,
            "language": a.string,
            "partialResultCallback": a.url,
            "partialResultCallbackMethod": a.http_method,
            "profanityFilter": a.boolean,
            "speechModel": a.string,
            "speechTimeout": a.positive_decimal,
        },
    ),
    "StartGather": VerbSchema(
        verbs.StartGather,
        "empty",
        {
            "dtmfUrl": a.url,
            "dtmfMethod": a.http_method,
            "username": a.string,
            "password": a.string,
            "tag": a.tag,
        },
        # startGather.mdx does not say "optional", and without it the digits would go nowhere.
        required=frozenset({"dtmfUrl"}),
    ),
    "StopGather": VerbSchema(verbs.StopGather, "empty"),
    "Transfer": VerbSchema(
        verbs.Transfer,
        "targets",
        {
            "transferCallerId": a.caller_id,
            "transferCallerDisplayName": a.display_name,
            "privacy": a.boolean,
            "callTimeout": a.decimal(1, 300),
            "transferCompleteUrl": a.url,
            "transferCompleteMethod": a.http_method,
            "transferCompleteFallbackUrl": a.url,
            "transferCompleteFallbackMethod": a.http_method,
            **_CALLBACK_CREDENTIALS,
            "tag": a.tag,
            "diversionTreatment": a.one_of("none", "propagate", "stack"),
            "diversionReason": _DIVERSION_REASONS,
        },
    ),
}

SCHEMAS["Bridge"] = VerbSchema(
    verbs.Bridge,
    "call_id",
    {
        "bridgeCompleteUrl": a.url,
        "bridgeCompleteMethod": a.http_method,
        "bridgeCompleteFallbackUrl": a.url,
        "bridgeCompleteFallbackMethod": a.http_method,
        "bridgeTargetCompleteUrl": a.url,
        "bridgeTargetCompleteMethod": a.http_method,
        "bridgeTargetCompleteFallbackUrl": a.url,
        "bridgeTargetCompleteFallbackMethod": a.http_method,
        **_CALLBACK_CREDENTIALS,
        "tag": a.tag,
    },
)

SCHEMAS["Forward"] = VerbSchema(
    verbs.Forward,
    "empty",
    {
        "to": a.e164_or_sip_uri,
        "from": a.caller_id,
        "callTimeout": a.decimal(1, 300),
        "diversionTreatment": a.one_of("none", "propagate", "stack"),
        "diversionReason": _DIVERSION_REASONS,
        "uui": a.string,
    },
    required=frozenset({"to"}),
)

_RECORDING_CALLBACKS: dict[str, a.Coerce] = {
    "recordingAvailableUrl": a.url,
    "recordingAvailableMethod": a.http_method,
    "transcribe": a.boolean,
    "detectLanguage": a.boolean,
    "transcriptionAvailableUrl": a.url,
    "transcriptionAvailableMethod": a.http_method,
    "username": a.string,
    "password": a.string,
    "tag": a.tag,
    "fileFormat": a.one_of("wav", "mp3"),
    "recordingName": a.string,
}
SCHEMAS["Record"] = VerbSchema(
    verbs.Record,
    "empty",
    {
        **_RECORDING_CALLBACKS,
        "recordCompleteUrl": a.url,
        "recordCompleteMethod": a.http_method,
        "recordCompleteFallbackUrl": a.url,
        "recordCompleteFallbackMethod": a.http_method,
        "fallbackUsername": a.string,
        "fallbackPassword": a.string,
        "terminatingDigits": a.dtmf_digits(allow_pauses=False, max_length=None, allow_empty=True),
        "maxDuration": a.decimal(1, 10800),
        "silenceTimeout": a.decimal(0, 10800),
    },
)
SCHEMAS["StartRecording"] = VerbSchema(
    verbs.StartRecording, "empty", {**_RECORDING_CALLBACKS, "multiChannel": a.boolean}
)
SCHEMAS["PauseRecording"] = VerbSchema(verbs.PauseRecording, "empty")
SCHEMAS["ResumeRecording"] = VerbSchema(verbs.ResumeRecording, "empty")
SCHEMAS["StopRecording"] = VerbSchema(verbs.StopRecording, "empty")

# The children of <Transfer>: whom to ring (transfer.mdx, "Nested Tags").
_TRANSFER_TARGET_ATTRIBUTES: dict[str, a.Coerce] = {
    "transferAnswerUrl": a.url,
    "transferAnswerMethod": a.http_method,
    "transferAnswerFallbackUrl": a.url,
    "transferAnswerFallbackMethod": a.http_method,
    "transferDisconnectUrl": a.url,
    "transferDisconnectMethod": a.http_method,
    **_CALLBACK_CREDENTIALS,
    "tag": a.tag,
}
TRANSFER_TARGETS: dict[str, VerbSchema] = {
    "PhoneNumber": VerbSchema(verbs.TransferTarget, "empty", _TRANSFER_TARGET_ATTRIBUTES),
    "SipUri": VerbSchema(
        verbs.TransferTarget, "empty", {**_TRANSFER_TARGET_ATTRIBUTES, "uui": a.string}
    ),
}
MAX_TRANSFER_TARGETS = 8


def _names(names: str) -> frozenset[str]:
    return frozenset(names.split())


# Verbs Bandwidth has that Switchboard recognises but does not run yet, with the attributes the
# official SDK writes for them, so that a typo is still caught by `switchboard bxml check`.
UNSUPPORTED_VERBS: dict[str, frozenset[str]] = {
    "Conference": _names(
        "mute hold callIdsToCoach conferenceEventUrl conferenceEventMethod "
        "conferenceEventFallbackUrl conferenceEventFallbackMethod username password "
        "fallbackUsername fallbackPassword tag callbackTimeout"
    ),
    "Connect": frozenset({"eventCallbackUrl", "eventFallbackUrl"}),
    "Refer": frozenset({"referCompleteUrl", "referCompleteMethod", "tag"}),
    "StartStream": _names(
        "destination destinationUsername destinationPassword name mode tracks streamEventUrl "
        "streamEventMethod username password"
    ),
    "StartTranscription": _names(
        "name tracks transcriptionEventUrl transcriptionEventMethod username password "
        "destination stabilized detectLanguage preferredLanguages"
    ),
    "StopStream": frozenset({"name", "wait"}),
    "StopTranscription": frozenset({"name"}),
}

# Elements that only exist inside another verb, and that verb.
NESTED_ONLY: dict[str, str] = {
    "PhoneNumber": "Transfer",
    "SipUri": "Transfer",
    "StreamParam": "StartStream",
    "CustomParam": "StartTranscription",
    "Endpoint": "Connect",
}

PROMPT_VERBS = ("SpeakSentence", "PlayAudio")
# gather.mdx: "repeatCount * number of verbs must not be greater than 20".
MAX_GATHER_PROMPT_PLAYS = 20
SEND_DTMF_MAX_DIGITS = 50
