"""Identifiers and timestamps in Bandwidth's formats."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime

_ID_BYTES = 20
_random_pool = b""
_random_position = 0


def new_call_id() -> str:
    """A call id shaped like Bandwidth's: `c-` + 8 hex + `-` + a random UUID (47 characters).

    Randomness is drawn from the OS in blocks of 256 ids: two urandom calls per id were a sixth
    of the create-call path."""
    global _random_pool, _random_position
    if _random_position + _ID_BYTES > len(_random_pool):
        _random_pool, _random_position = secrets.token_bytes(_ID_BYTES * 256), 0
    chunk = _random_pool[_random_position : _random_position + _ID_BYTES]
    _random_position += _ID_BYTES
    return f"c-{chunk[:4].hex()}-{uuid.UUID(bytes=chunk[4:], version=4)}"


# format_time's caches: the strings it made recently (a call's enqueuedTime, startTime... are
# formatted again for each payload and each row write), and the text of the current second.
_FORMATTED_MAX = 4096
_formatted: dict[datetime, str] = {}
_MILLISECONDS = tuple(f"{n:03d}Z" for n in range(1000))
# (the second's fields, its text), replaced as one object: the store's writer thread formats too.
_second: tuple[tuple[int, ...], str] = ((), "")


def format_time(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a `Z`, as Bandwidth writes eventTime.

    `strftime` ran for every timestamp of every payload, row and timeline entry (a tenth of
    the engine's CPU): now a moment formatted recently is a dict look-up, and a new one reuses
    the text of its second (see `format_new_time`)."""
    text = _formatted.get(moment)
    if text is None:
        text = format_new_time(moment)
        if moment.tzinfo is not UTC:
            return text  # only UTC moments are kept: equal ones are then the same instant
        if len(_formatted) >= _FORMATTED_MAX:
            _formatted.clear()
        _formatted[moment] = text
    return text


def format_new_time(moment: datetime) -> str:
    """`format_time` for a moment that will not be formatted again (a timeline entry's)."""
    global _second
    if moment.tzinfo is not UTC:  # naive or another zone: convert, as before
        return (
            moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.")
            + _MILLISECONDS[moment.microsecond // 1000]
        )
    fields = (moment.second, moment.minute, moment.hour, moment.day, moment.month, moment.year)
    last = _second
    if fields != last[0]:
        last = _second = (fields, moment.strftime("%Y-%m-%dT%H:%M:%S."))
    return last[1] + _MILLISECONDS[moment.microsecond // 1000]


def parse_time(text: str) -> datetime:
    """Inverse of `format_time` (also accepts any ISO 8601 with an offset)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
