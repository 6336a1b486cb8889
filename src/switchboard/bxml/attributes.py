"""Attribute coercion: an attribute's raw string to a typed, range-checked value.

A coercer returns the value or raises `InvalidValue` with what was expected ("must be an integer
from 1 to 50"); the parser adds the verb, the attribute, what it got and where.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urljoin, urlsplit

# Coercers take the document's base URL too, so that URL attributes resolve like everything else.
Coerce = Callable[[str, str | None], object]

DTMF_DIGITS = "0123456789*#ABCD"
# Bandwidth documents these as pauses in <SendDtmf>, each replacing one toneInterval.
DTMF_PAUSES = "wW,"
TAG_MAX_LENGTH = 256

# Plain decimals only: float() would also take "nan", "inf", "1e3" and "1_000".
_DECIMAL = re.compile(r"\d+(\.\d*)?|\.\d+")
_INTEGER = re.compile(r"\d+")


class InvalidValue(ValueError):
    """An attribute value a coercer refuses; the message says what it must be."""


def integer(low: int, high: int) -> Coerce:
    def coerce(raw: str, _base_url: str | None) -> int:
        value = raw.strip()
        if not _INTEGER.fullmatch(value) or not low <= int(value) <= high:
            raise InvalidValue(f"must be an integer from {low} to {high}")
        return int(value)

    return coerce


def decimal(low: float, high: float) -> Coerce:
    def coerce(raw: str, _base_url: str | None) -> float:
        value = raw.strip()
        if not _DECIMAL.fullmatch(value) or not low <= float(value) <= high:
            raise InvalidValue(f"must be a number from {_number(low)} to {_number(high)}")
        return float(value)

    return coerce


def positive_decimal(raw: str, _base_url: str | None) -> float:
    value = raw.strip()
    if not _DECIMAL.fullmatch(value) or float(value) <= 0:
        raise InvalidValue("must be a number greater than 0")
    return float(value)


def boolean(raw: str, _base_url: str | None) -> bool:
    # Any case: bandwidth-sdk 15.0.0-16.0.0 writes Python's str(bool), "True" / "False", and
    # Bandwidth's own parser takes them (its sample apps pinned to those versions run there).
    value = raw.strip().lower()
    if value not in ("true", "false"):
        raise InvalidValue("must be true or false")
    return value == "true"


_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
PRIVATE_CALLER_IDS = ("Restricted", "Anonymous", "Private", "Unavailable")


def caller_id(raw: str, _base_url: str | None) -> str:
    """transferCallerId: E.164, or one of the private caller ids."""
    value = raw.strip()
    if not _E164.fullmatch(value) and value not in PRIVATE_CALLER_IDS:
        raise InvalidValue(
            "must be an E.164 number like +15555551212 or one of " + ", ".join(PRIVATE_CALLER_IDS)
        )
    return value


_SIP_URI = re.compile(r"sips?:(?:[^@\s]+@)?[A-Za-z0-9.\-\[\]:]+(?:;\S*)?", re.IGNORECASE)


def e164(raw: str, _base_url: str | None) -> str:
    value = raw.strip()
    if not _E164.fullmatch(value):
        raise InvalidValue("must be an E.164 number like +15555551212")
    return value


def sip_uri(raw: str, _base_url: str | None) -> str:
    value = raw.strip()
    if not _SIP_URI.fullmatch(value):
        raise InvalidValue("must be a SIP URI like sip:user@example.com")
    return value


def e164_or_sip_uri(raw: str, base_url: str | None) -> str:
    value = raw.strip()
    if value.lower().startswith(("sip:", "sips:")):
        return sip_uri(value, base_url)
    if not _E164.fullmatch(value):
        raise InvalidValue("must be an E.164 number like +15555551212 or a SIP URI")
    return value


def display_name(raw: str, _base_url: str | None) -> str:
    if len(raw) > 256 or any(ord(c) < 32 or 127 <= ord(c) < 160 for c in raw):
        raise InvalidValue("must be at most 256 characters, without control characters")
    return raw


def http_method(raw: str, _base_url: str | None) -> str:
    # Case-insensitive: an HTTP method has one meaning whatever its case, and "post" is common.
    value = raw.strip().upper()
    if value not in ("GET", "POST"):
        raise InvalidValue("must be GET or POST")
    return value


def one_of(*choices: str) -> Coerce:
    def coerce(raw: str, _base_url: str | None) -> str:
        if raw not in choices:
            raise InvalidValue(f"must be one of {', '.join(choices)}")
        return raw

    return coerce


def string(raw: str, _base_url: str | None) -> str:
    return raw


def tag(raw: str, _base_url: str | None) -> str:
    """A tag attribute; "" is kept, because it means "clear the tag"."""
    if len(raw) > TAG_MAX_LENGTH:
        raise InvalidValue(f"must be at most {TAG_MAX_LENGTH} characters (it has {len(raw)})")
    return raw


def url(raw: str, base_url: str | None) -> str:
    return resolve_url(raw, base_url)


def resolve_url(raw: str, base_url: str | None) -> str:
    """Resolve a (possibly relative) URL against the URL that served the document.

    Without a base URL (a file being checked, a PUT /bxml body) a relative URL stays as written:
    there is nothing to resolve it against yet, and it is not wrong in itself.
    """
    value = raw.strip()
    if not value or any(character.isspace() for character in value):
        raise InvalidValue("must be a URL without spaces")
    resolved = urljoin(base_url, value) if base_url else value
    scheme = urlsplit(resolved).scheme
    if scheme and scheme not in ("http", "https"):
        raise InvalidValue("must be an http or https URL")
    return resolved


def dtmf_digits(*, allow_pauses: bool, max_length: int | None, allow_empty: bool) -> Coerce:
    allowed = DTMF_DIGITS + (DTMF_PAUSES if allow_pauses else "")

    def coerce(raw: str, _base_url: str | None) -> str:
        value = raw.strip()
        if not value and not allow_empty:
            raise InvalidValue(f"must not be empty; use the characters {allowed}")
        if max_length is not None and len(value) > max_length:
            raise InvalidValue(f"must be at most {max_length} characters (it has {len(value)})")
        if any(character not in allowed for character in value):
            raise InvalidValue(f"may only contain the characters {allowed}")
        return value

    return coerce


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)
