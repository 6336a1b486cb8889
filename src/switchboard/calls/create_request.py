"""The createCall request body: every field of Bandwidth's schema, validated, with defaults.

Pure: takes the decoded JSON object, returns a `CreateCallRequest` or raises ValidationError.
Checks that need the account (is `from` ours? is the application ours?) live in calls/service.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from switchboard.calls import validation as check
from switchboard.errors import ValidationError
from switchboard.url_credentials import split_credentials

REQUIRED_FIELDS = ("from", "to", "answerUrl", "applicationId")
OPTIONAL_FIELDS = frozenset(
    {
        "answerMethod",
        "privacy",
        "displayName",
        "uui",
        "username",
        "password",
        "answerFallbackUrl",
        "answerFallbackMethod",
        "fallbackUsername",
        "fallbackPassword",
        "disconnectUrl",
        "disconnectMethod",
        "callTimeout",
        "callbackTimeout",
        "machineDetection",
        "priority",
        "tag",
    }
)
MAX_TAG_LENGTH = 256  # the seed's limit; the newer spec says 4096, and the seed wins
MAX_CREDENTIAL_LENGTH = 1024
MAX_DISPLAY_NAME_LENGTH = 256
MAX_UUI_LENGTH = 350
PRIVATE_DISPLAY_NAMES = ("Restricted", "Anonymous", "Private", "Unavailable")
UUI_ENCODINGS = ("jwt", "base64", "hex")
# Bandwidth publishes no ranges for machine detection timings; these bounds are Switchboard's
# (see docs/compatibility.md): positive, and no longer than the longest callTimeout.
MACHINE_DETECTION_MAX_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class MachineDetection:
    mode: str = "async"
    detection_timeout: float = 15
    silence_timeout: float = 10
    speech_threshold: float = 10
    speech_end_threshold: float = 5
    machine_speech_end_threshold: float | None = None
    delay_result: bool = False
    callback_url: str | None = None
    callback_method: str = "POST"
    username: str | None = None
    # Secrets stay out of repr, so a logged or printed request never shows them.
    password: str | None = field(default=None, repr=False)
    fallback_url: str | None = None
    fallback_method: str = "POST"
    fallback_username: str | None = None
    fallback_password: str | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class CreateCallRequest:
    to: str
    from_: str
    application_id: str
    answer_url: str
    answer_method: str = "POST"
    privacy: bool | None = None
    display_name: str | None = None
    uui: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    answer_fallback_url: str | None = None
    answer_fallback_method: str = "POST"
    fallback_username: str | None = None
    fallback_password: str | None = field(default=None, repr=False)
    disconnect_url: str | None = None
    disconnect_method: str = "POST"
    call_timeout: int | float = 30
    callback_timeout: int | float = 15
    machine_detection: MachineDetection | None = None
    priority: int = 5
    tag: str | None = None
    # user:password@ split off answerUrl, answerFallbackUrl and disconnectUrl as they came in
    # (DESIGN.md rule 7): {"answerUrl": [user, password]}. Each URL's own: username/password
    # serve both answerUrl and disconnectUrl, which may be different hosts. Never shown.
    url_credentials: dict[str, list[str]] | None = field(default=None, repr=False)

    def credentials_for(self, url_field: str) -> tuple[str | None, str | None]:
        """The Basic credentials to send to `url_field`'s URL: the request's fields win (as
        they did over a URL's own), else what its URL carried."""
        if url_field == "answerFallbackUrl":
            if self.fallback_username is not None or self.fallback_password is not None:
                return self.fallback_username, self.fallback_password
        elif self.username is not None or self.password is not None:
            return self.username, self.password
        carried = (self.url_credentials or {}).get(url_field)
        return (carried[0], carried[1]) if carried else (None, None)


def parse_create_call(body: Mapping[str, Any]) -> CreateCallRequest:
    """Validate a createCall body as Bandwidth does. Unknown fields are ignored."""
    if any(body.get(name) in (None, "") for name in REQUIRED_FIELDS):
        raise ValidationError(
            "Missing at least one required field. "
            "Required fields are [from, to, answerUrl, applicationId]"
        )
    to = check.e164_or_sip(body, "to")
    from_ = check.e164(body, "from")
    application_id = check.string(body, "applicationId", max_length=256)
    answer_url = check.url(body, "answerUrl")
    assert to and from_ and application_id and answer_url  # guaranteed by the required check
    carried: dict[str, list[str]] = {}
    answer_url = _split(answer_url, "answerUrl", carried)

    if body.keys().isdisjoint(OPTIONAL_FIELDS):
        # The commonest body (the seed's example): nothing else to check, every default holds.
        return CreateCallRequest(
            to, from_, application_id, answer_url, url_credentials=carried or None
        )
    privacy = check.boolean(body, "privacy")
    display_name = _display_name(body, privacy)
    answer_fallback_url = check.url(body, "answerFallbackUrl")
    disconnect_url = check.url(body, "disconnectUrl")
    if answer_fallback_url is not None:
        answer_fallback_url = _split(answer_fallback_url, "answerFallbackUrl", carried)
    if disconnect_url is not None:
        disconnect_url = _split(disconnect_url, "disconnectUrl", carried)
    return CreateCallRequest(
        to=to,
        from_=from_,
        application_id=application_id,
        answer_url=answer_url,
        answer_method=check.method(body, "answerMethod") or "POST",
        privacy=privacy,
        display_name=display_name,
        uui=uui_header(body),
        username=check.string(body, "username", max_length=MAX_CREDENTIAL_LENGTH),
        password=check.string(body, "password", max_length=MAX_CREDENTIAL_LENGTH),
        answer_fallback_url=answer_fallback_url,
        answer_fallback_method=check.method(body, "answerFallbackMethod") or "POST",
        fallback_username=check.string(body, "fallbackUsername", max_length=MAX_CREDENTIAL_LENGTH),
        fallback_password=check.string(body, "fallbackPassword", max_length=MAX_CREDENTIAL_LENGTH),
        disconnect_url=disconnect_url,
        disconnect_method=check.method(body, "disconnectMethod") or "POST",
        call_timeout=_or(check.number(body, "callTimeout", minimum=1, maximum=300), 30),
        callback_timeout=_or(check.number(body, "callbackTimeout", minimum=1, maximum=25), 15),
        machine_detection=_machine_detection(body),
        priority=_or(check.integer(body, "priority", minimum=1, maximum=5), 5),
        tag=check.string(body, "tag", max_length=MAX_TAG_LENGTH),
        url_credentials=carried or None,
    )


def _split(url: str, name: str, carried: dict[str, list[str]]) -> str:
    bare, user, password = split_credentials(url)
    if user is not None or password is not None:
        carried[name] = [user or "", password or ""]
    return bare


T = TypeVar("T")


def _or(value: T | None, default: T) -> T:
    return default if value is None else value


def _display_name(body: Mapping[str, Any], privacy: bool | None) -> str | None:
    name = check.string(body, "displayName", max_length=MAX_DISPLAY_NAME_LENGTH)
    if name is None:
        return None
    if check.has_control_characters(name):
        raise check.invalid("displayName", "must not contain control characters such as new lines")
    if privacy and name not in PRIVATE_DISPLAY_NAMES:
        raise check.invalid(
            "displayName",
            "when privacy is true, must be one of Restricted, Anonymous, Private or Unavailable, "
            f"got '{name}'",
        )
    return name


def uui_header(body: Mapping[str, Any]) -> str | None:
    """RFC 7433 User-to-User values, comma separated, each ending in an allowed encoding."""
    uui = check.string(body, "uui")
    if uui is None:
        return None
    if len(uui) > MAX_UUI_LENGTH:
        raise check.invalid("uui", f"must be at most {MAX_UUI_LENGTH} characters, got {len(uui)}")
    for position, entry in enumerate(uui.split(","), start=1):
        data, _, parameters = entry.strip().partition(";")
        encoding = None
        for parameter in parameters.split(";"):
            key, _, value = parameter.partition("=")
            if key.strip().lower() == "encoding":
                encoding = value.strip().lower()
        if not data:
            raise check.invalid("uui", f"value {position} is empty")
        if encoding not in UUI_ENCODINGS:
            raise check.invalid(
                "uui",
                f"value {position} must end with an encoding parameter of jwt, base64 or hex "
                "(e.g. 'abc123;encoding=hex')",
            )
    return uui


def _machine_detection(body: Mapping[str, Any]) -> MachineDetection | None:
    raw = body.get("machineDetection")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise check.invalid("machineDetection", "must be an object")

    def seconds(field: str) -> float | None:
        value = (
            check.number(raw, field, minimum=0.1, maximum=MACHINE_DETECTION_MAX_SECONDS)
            if raw.get(field) is not None
            else None
        )
        return value

    try:
        mode = check.string(raw, "mode") or "async"
        if mode not in ("sync", "async"):
            raise check.invalid("mode", f"must be sync or async, got '{mode}'")
        defaults = MachineDetection()
        # Each of these URLs has a username/password of its own: what a URL carries goes
        # there, unless the fields were given (they win, as they did over the URL's own).
        callback_url, callback_user, callback_password = _split_optional(
            check.url(raw, "callbackUrl")
        )
        fallback_url, fallback_user, fallback_password = _split_optional(
            check.url(raw, "fallbackUrl")
        )
        username = check.string(raw, "username", max_length=MAX_CREDENTIAL_LENGTH)
        password = check.string(raw, "password", max_length=MAX_CREDENTIAL_LENGTH)
        if username is None and callback_user is not None:
            username, password = callback_user, callback_password
        fallback_username = check.string(raw, "fallbackUsername", max_length=MAX_CREDENTIAL_LENGTH)
        fallback_password_field = check.string(
            raw, "fallbackPassword", max_length=MAX_CREDENTIAL_LENGTH
        )
        if fallback_username is None and fallback_user is not None:
            fallback_username, fallback_password_field = fallback_user, fallback_password
        return MachineDetection(
            mode=mode,
            detection_timeout=_or(seconds("detectionTimeout"), defaults.detection_timeout),
            silence_timeout=_or(seconds("silenceTimeout"), defaults.silence_timeout),
            speech_threshold=_or(seconds("speechThreshold"), defaults.speech_threshold),
            speech_end_threshold=_or(seconds("speechEndThreshold"), defaults.speech_end_threshold),
            machine_speech_end_threshold=seconds("machineSpeechEndThreshold"),
            delay_result=_or(check.boolean(raw, "delayResult"), False),
            callback_url=callback_url,
            callback_method=check.method(raw, "callbackMethod") or "POST",
            username=username,
            password=password,
            fallback_url=fallback_url,
            fallback_method=check.method(raw, "fallbackMethod") or "POST",
            fallback_username=fallback_username,
            fallback_password=fallback_password_field,
        )
    except ValidationError as error:
        # Name the nested field the way a developer wrote it: machineDetection.silenceTimeout.
        raise ValidationError(
            error.description.replace("Invalid ", "Invalid machineDetection.", 1)
        ) from None


def _split_optional(url: str | None) -> tuple[str | None, str | None, str | None]:
    if url is None:
        return None, None, None
    return split_credentials(url)
