"""Keeping secrets out of logs and timelines: credentials in URLs and in BXML attributes."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

MASK = "*****"
# user:password@ (or user@) in any URL inside a text, up to the authority's last @ (a password
# may hold a raw @; the authority ends at the first / ? or #, which user info cannot hold).
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)[^/?#\s\"'<>]+@")
# password="..." / fallbackPassword='...' / destinationPassword="..." in BXML (any case).
_PASSWORD_ATTRIBUTE = re.compile(
    r"(?P<name>\b[A-Za-z]*[Pp]assword\s*=\s*)(?P<quote>[\"'])(?P<value>.*?)(?P=quote)", re.S
)


def redact_url(url: str) -> str:
    """The URL without any user:password@ part."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


def redact_text(text: str) -> str:
    """`text` with URL credentials removed and BXML password attributes masked."""
    text = _URL_CREDENTIALS.sub(lambda match: match.group("scheme"), text)
    return _PASSWORD_ATTRIBUTE.sub(
        lambda match: f"{match.group('name')}{match.group('quote')}{MASK}{match.group('quote')}",
        text,
    )
