"""Credentials split off a URL where the URL enters the system (DESIGN.md rule 7, issue 23).

`answerUrl=http://user:S3cret@host/answer` put the password in errorMessage, the timeline,
`switchboard calls show` and the disconnect event: every sentence and record that names a URL
carried it, and redacting each one after the fact missed cases. A URL is split once, as it is
parsed (createCall, updateCall, BXML); from then on only the bare URL is stored, shown, logged
or sent, and the credential travels in the username/password that goes with that URL.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit, urlunsplit


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """(the URL without its user:password@, the user, the password), percent-decoded as a
    client sending Basic auth from the URL decodes them. No user info: (url, None, None)."""
    if "@" not in url:  # the common case, without parsing
        return url, None, None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url, None, None  # not a URL we will ever send to; its validation says so
    if parts.username is None and parts.password is None:
        return url, None, None
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    user = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return urlunsplit(parts._replace(netloc=netloc)), user, password
