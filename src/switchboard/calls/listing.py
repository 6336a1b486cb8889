"""GET .../calls query parameters and page tokens (pure)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from switchboard.calls.ids import format_time
from switchboard.errors import ValidationError

DEFAULT_PAGE_SIZE = 1000
MAX_PAGE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class CallFilter:
    to: str | None = None
    from_: str | None = None
    min_start_time: str | None = None  # normalised to Bandwidth's format, for text comparison
    max_start_time: str | None = None
    disconnect_cause: str | None = None


@dataclass(frozen=True, slots=True)
class PageCursor:
    """Where the next page starts: after this (enqueued_time, call_id)."""

    enqueued_time: str
    call_id: str

    def token(self) -> str:
        raw = orjson.dumps({"t": self.enqueued_time, "c": self.call_id})
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass(frozen=True, slots=True)
class ListQuery:
    filter: CallFilter
    page_size: int
    after: PageCursor | None


def parse_list_query(params: Mapping[str, str]) -> ListQuery:
    size_text = params.get("pageSize")
    page_size = DEFAULT_PAGE_SIZE
    if size_text is not None:
        try:
            page_size = int(size_text)
        except ValueError:
            raise ValidationError(
                f"Invalid pageSize: must be an integer, got '{size_text}'"
            ) from None
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValidationError(
                f"Invalid pageSize: must be between 1 and {MAX_PAGE_SIZE}, got {page_size}"
            )
    token = params.get("pageToken")
    return ListQuery(
        filter=CallFilter(
            to=params.get("to") or None,
            from_=params.get("from") or None,
            min_start_time=_time(params, "minStartTime"),
            max_start_time=_time(params, "maxStartTime"),
            disconnect_cause=params.get("disconnectCause") or None,
        ),
        page_size=page_size,
        after=_cursor(token) if token else None,
    )


def _time(params: Mapping[str, str], name: str) -> str | None:
    text = params.get(name)
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(
            f"Invalid {name}: must be an ISO 8601 time like 2022-06-21T19:13:21Z, got '{text}'"
        ) from None
    if moment.tzinfo is None:  # Bandwidth's times are UTC; read a bare time as UTC too
        moment = moment.replace(tzinfo=UTC)
    return format_time(moment)


def _cursor(token: str) -> PageCursor:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return PageCursor(str(data["t"]), str(data["c"]))
    except (ValueError, KeyError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise ValidationError(
            "Invalid pageToken: use the URL from the previous page's Link header"
        ) from None
