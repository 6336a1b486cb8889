"""An application's voice settings: where Bandwidth sends the webhooks of its inbound calls.

Bandwidth's application resource names them CallInitiatedCallbackUrl, CallInitiatedMethod,
CallInitiatedFallbackUrl, CallInitiatedFallbackMethod, CallStatusCallbackUrl, CallStatusMethod,
CallbackCreds and CallbackTimeout (webhooks/about.mdx: "the callback timeout ... with application
settings for inbound calls"). In the config file and on the CLI they are the snake_case of those
names. Pure: parsing and validation only; sealing the passwords is the caller's (vault.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from switchboard.calls import validation as check
from switchboard.errors import ValidationError
from switchboard.url_credentials import split_credentials

DEFAULT_CALLBACK_TIMEOUT = 15.0  # webhooks/about.mdx: "a 15s request timeout by default"
MAX_CREDENTIAL_LENGTH = 1024
URL_KEYS = (
    "call_initiated_callback_url",
    "call_initiated_fallback_url",
    "call_status_callback_url",
)
METHOD_KEYS = ("call_initiated_method", "call_initiated_fallback_method", "call_status_method")
CREDENTIAL_KEYS = (
    "callback_username",
    "callback_password",
    "fallback_username",
    "fallback_password",
)
PASSWORD_KEYS = ("callback_password", "fallback_password")
# The credential keys that serve each URL (CallbackCreds serve both callback URLs).
URL_CREDENTIAL_KEYS = {
    "call_initiated_callback_url": ("callback_username", "callback_password"),
    "call_initiated_fallback_url": ("fallback_username", "fallback_password"),
    "call_status_callback_url": ("callback_username", "callback_password"),
}
KEYS = (*URL_KEYS, *METHOD_KEYS, *CREDENTIAL_KEYS, "callback_timeout")


class VoiceSettingsError(ValueError):
    """A setting is wrong; the message names it and says why."""


@dataclass(frozen=True, slots=True)
class VoiceSettings:
    call_initiated_callback_url: str | None = None
    call_initiated_method: str = "POST"
    call_initiated_fallback_url: str | None = None
    call_initiated_fallback_method: str = "POST"
    call_status_callback_url: str | None = None
    call_status_method: str = "POST"
    callback_username: str | None = None
    # Plain text when parsed from the file or the CLI, sealed (vault.py) once stored.
    callback_password: str | None = field(default=None, repr=False)
    fallback_username: str | None = None
    fallback_password: str | None = field(default=None, repr=False)
    callback_timeout: float = DEFAULT_CALLBACK_TIMEOUT

    def to_json(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value is not None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> VoiceSettings:
        known = {item.name for item in fields(cls)}
        return cls(**{key: value for key, value in (data or {}).items() if key in known})

    def with_passwords(self, convert: Callable[[str], str]) -> VoiceSettings:
        """The same settings with each password passed through `convert` (seal or open)."""
        return replace(
            self,
            callback_password=_map(self.callback_password, convert),
            fallback_password=_map(self.fallback_password, convert),
        )

    def described(self) -> dict[str, Any]:
        """What may be shown (CLI, logs): passwords only as whether they are set, URLs without
        the user:password@ an application stored before the rule against them may carry."""
        shown = self.to_json()
        for key in URL_KEYS:
            if key in shown:
                shown[key] = split_credentials(shown[key])[0]
        for key in PASSWORD_KEYS:
            if key in shown:
                shown[key] = "(set)"
        return shown


def _map(value: str | None, convert: Callable[[str], str]) -> str | None:
    return None if value is None else convert(value)


def parse_voice_settings(
    raw: Mapping[str, Any], where: str, base: VoiceSettings | None = None
) -> VoiceSettings:
    """Apply the voice keys of `raw` on top of `base` (an update keeps what it doesn't name;
    an empty string clears an optional URL or credential)."""
    changes: dict[str, Any] = {}
    for key in URL_KEYS:
        if key in raw:
            changes[key] = _checked(raw, key, where, check.url) or None
            if changes[key] is not None:
                _refuse_credentials(changes[key], key, where)
    for key in METHOD_KEYS:
        if key in raw:
            changes[key] = _checked(raw, key, where, check.method) or "POST"
    for key in CREDENTIAL_KEYS:
        if key in raw:
            changes[key] = (
                _checked(
                    raw,
                    key,
                    where,
                    lambda body, name: check.string(body, name, max_length=MAX_CREDENTIAL_LENGTH),
                )
                or None
            )
    if "callback_timeout" in raw:
        # createCall's callbackTimeout range: 1 to 25 seconds.
        value = _checked(
            raw, "callback_timeout", where, lambda b, n: check.number(b, n, minimum=1, maximum=25)
        )
        changes["callback_timeout"] = DEFAULT_CALLBACK_TIMEOUT if value is None else float(value)
    return replace(base or VoiceSettings(), **changes)


def _refuse_credentials(url: str, key: str, where: str) -> None:
    """A URL's user:password@ is refused, not taken as the callback credentials (issue 23): a
    URL is stored, shown (`applications show`, the timeline) and logged, so a password inside it
    would be too; and one pair, CallbackCreds, serves both callback URLs, so taking one URL's
    password as that pair would send it to the other URL's host as well. The message names
    neither the URL nor its password."""
    _, user, password = split_credentials(url)
    if user is None and password is None:
        return
    user_key, password_key = URL_CREDENTIAL_KEYS[key]
    raise VoiceSettingsError(
        f"{where}.{key} must not carry user:password@ (URLs are stored, shown and logged, and "
        f"the password would be too): give the URL without it and the credentials as "
        f"{where}.{user_key} and {where}.{password_key}"
    )


def _checked(
    raw: Mapping[str, Any], key: str, where: str, rule: Callable[[Mapping[str, Any], str], Any]
) -> Any:
    if raw.get(key) == "":
        return None
    try:
        return rule(raw, key)
    except ValidationError as error:
        reason = error.description.removeprefix(f"Invalid {key}: ")
        raise VoiceSettingsError(f"{where}.{key} {reason}") from None
