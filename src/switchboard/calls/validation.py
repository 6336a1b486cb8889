"""Field checks shared by every request that carries Bandwidth call parameters.

Each check takes the raw JSON value and the field's name and either returns the clean value or
raises ValidationError with a description in Bandwidth's style: "Invalid <field>: <reason>".
`None` means the field was absent or JSON null; nullable fields then take their default.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from switchboard.errors import ValidationError
from switchboard.redact import redact_text

# \Z, not $: `$` also matches before a trailing newline, which must never pass as a number.
E164 = re.compile(r"^\+[1-9][0-9]{1,14}\Z")
# A SIP URI: scheme, optional user part, a host; Bandwidth also accepts sips.
SIP_URI = re.compile(r"^sips?:(?:[^@\s]+@)?[A-Za-z0-9.\-\[\]:]+(?:;[^\s]*)?\Z", re.IGNORECASE)
MAX_URL_LENGTH = 2048
CALLBACK_METHODS = ("GET", "POST")


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def invalid(field: str, reason: str) -> ValidationError:
    return ValidationError(f"Invalid {field}: {reason}")


def string(body: Mapping[str, Any], field: str, *, max_length: int | None = None) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(field, f"must be a string, got {_json_type(value)}")
    if max_length is not None and len(value) > max_length:
        raise invalid(field, f"must be at most {max_length} characters, got {len(value)}")
    return value


def boolean(body: Mapping[str, Any], field: str) -> bool | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise invalid(field, f"must be true or false, got {_json_type(value)}")
    return value


def number(
    body: Mapping[str, Any], field: str, *, minimum: float, maximum: float
) -> int | float | None:
    """A JSON number in [minimum, maximum]; decimals allowed. Keeps int-ness for echoing back."""
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(field, f"must be a number, got {_json_type(value)}")
    if value != value or not minimum <= value <= maximum:  # NaN compares unequal to itself
        raise invalid(
            field, f"must be between {_plain(minimum)} and {_plain(maximum)}, got {value}"
        )
    return value


def integer(body: Mapping[str, Any], field: str, *, minimum: int, maximum: int) -> int | None:
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        # Show the value only for numbers (2.5); Python's repr of others would mislead.
        shown = f" {value}" if isinstance(value, float) else ""
        raise invalid(field, f"must be an integer, got {_json_type(value)}{shown}")
    if not minimum <= value <= maximum:
        raise invalid(field, f"must be between {minimum} and {maximum}, got {value}")
    return value


def url(body: Mapping[str, Any], field: str) -> str | None:
    value = string(body, field)
    if value is None:
        return None
    if len(value) > MAX_URL_LENGTH:
        raise invalid(field, f"must be at most {MAX_URL_LENGTH} characters, got {len(value)}")
    problem = _url_problem(value)
    if problem is not None:
        raise invalid(field, problem)
    return value


def _without_userinfo(url: str) -> str:
    """`url` with everything between `scheme://` and its last `@` removed: a password may hold
    characters (a raw `/`, `@`) that make it unparseable, so no parser can be trusted to find
    where it ends, and an error that names the URL must not show any of it."""
    scheme, separator, rest = url.partition("://")
    if not separator or "@" not in rest:
        return url
    return f"{scheme}://(credentials removed)@{rest.rsplit('@', 1)[1]}"


@functools.lru_cache(maxsize=1024)
def _url_problem(value: str) -> str | None:
    """What is wrong with a URL (None: nothing). Cached: clients send the same few URLs with
    every call, and checking one character by character was a tenth of parse_create_call.
    The URL is named without its user:password@ (the 400 body is an API response too)."""
    shown = _without_userinfo(redact_text(value))
    if any(char.isspace() or unicodedata.category(char) == "Cc" for char in value):
        return f"must not contain spaces or control characters, got {shown!r}"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number 0-65535
    except ValueError as exc:
        # The parser's own words may quote a piece of the password (a raw '/' in it makes the
        # rest look like a port): with a user:password@, they are left out.
        detail = "" if "@" in value else f" ({redact_text(str(exc))})"
        return f"'{shown}' is not a valid URL{detail}"
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return f"must be an absolute http or https URL, got '{shown}'"
    return None


def method(body: Mapping[str, Any], field: str) -> str | None:
    value = string(body, field)
    if value is None:
        return None
    upper = value.upper()
    if upper not in CALLBACK_METHODS:
        raise invalid(field, f"must be GET or POST, got '{value}'")
    return upper


def e164(body: Mapping[str, Any], field: str) -> str | None:
    value = string(body, field)
    if value is None:
        return None
    if not E164.match(value):
        raise invalid(field, f"must be an E164 telephone number like +15555551212, got '{value}'")
    return value


def e164_or_sip(body: Mapping[str, Any], field: str) -> str | None:
    value = string(body, field)
    if value is None:
        return None
    if E164.match(value):
        return value
    if value.lower().startswith(("sip:", "sips:")):
        if SIP_URI.match(value):
            return value
        raise invalid(field, f"'{value}' is not a valid SIP URI (expected sip:user@host)")
    raise invalid(
        field,
        f"must be an E164 telephone number like +15555551212 or a SIP URI, got '{value}'",
    )


def has_control_characters(text: str) -> bool:
    """C0 and C1 controls (category Cc: new lines, tabs, DEL, U+0080-U+009F)."""
    return any(unicodedata.category(char) == "Cc" for char in text)


def _plain(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
