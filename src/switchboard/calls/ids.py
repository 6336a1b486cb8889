"""Identifiers and timestamps in Bandwidth's formats."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime


def new_call_id() -> str:
    """A call id shaped like Bandwidth's: `c-` + 8 hex + `-` + a UUID (47 characters)."""
    return f"c-{secrets.token_hex(4)}-{uuid.uuid4()}"


def format_time(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a `Z`, as Bandwidth writes eventTime."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def parse_time(text: str) -> datetime:
    """Inverse of `format_time` (also accepts any ISO 8601 with an offset)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
