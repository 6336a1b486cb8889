"""Identifiers and timestamps in Bandwidth's formats."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime

# Random hex digits per id: 5 after the millisecond's 3, then 4 + 3 + 1 + 3 + 12 of the UUID's
# groups (two bits of the 1 are the variant's), drawn from the OS in blocks.
_RANDOM_HEX = 28
_random_pool = ""
_random_position = 0
# RFC 4122's variant: the fourth group's first hex digit is 8, 9, a or b.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def new_call_id() -> str:
    """A call id shaped like Bandwidth's: `c-` + 8 hex + `-` + a UUID (47 characters), with
    a UUID's version (4) and variant digits.

    The first 11 hex digits say when the call was created (the Unix second, then the
    millisecond, by the server's wall clock), so ids made in later milliseconds sort later:
    the store's index on call ids grows at its end instead of dirtying a random page per
    insert (about a quarter of an insert's cost in SQLite, and of the pages a checkpoint
    copies). Everything else is random (110 bits): ids are neither guessable nor a count of
    anyone's calls. Randomness comes from the OS in blocks of 128 ids."""
    global _random_pool, _random_position
    if _random_position + _RANDOM_HEX > len(_random_pool):
        _random_pool, _random_position = secrets.token_hex(_RANDOM_HEX * 128), 0
    r = _random_pool[_random_position : _random_position + _RANDOM_HEX]
    _random_position += _RANDOM_HEX
    seconds, nanoseconds = divmod(time.time_ns(), 1_000_000_000)
    milliseconds = nanoseconds // 1_000_000
    return (
        f"c-{seconds & 0xFFFFFFFF:08x}-{milliseconds:03x}{r[:5]}-{r[5:9]}-4{r[9:12]}"
        f"-{_VARIANT[r[12]]}{r[13:16]}-{r[16:]}"
    )


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
