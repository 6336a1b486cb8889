"""Waiting on a real call's timeline (Switchboard's own API), in real time and bounded."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.support.server import ACCOUNT_ID


def wait_for_timeline(
    switchboard: httpx.Client,
    call_id: str,
    kind: str,
    timeout: float = 15.0,
    nth: int = 1,
    **match: Any,
) -> dict[str, Any]:
    """The `nth` timeline entry of `kind` whose fields equal `match`, once it exists."""
    deadline = time.monotonic() + timeout
    path = f"/switchboard/v1/accounts/{ACCOUNT_ID}/calls/{call_id}/timeline"
    while True:
        entries = switchboard.get(path).json()["timeline"]
        found = [
            entry
            for entry in entries
            if entry["kind"] == kind and all(entry.get(k) == v for k, v in match.items())
        ]
        if len(found) >= nth:
            return dict(found[nth - 1])
        if time.monotonic() > deadline:
            raise AssertionError(f"no {kind} {match} in the timeline within {timeout} s: {entries}")
        time.sleep(0.02)  # polling a real call: SIP runs in real time
