"""Helpers for end-to-end call flows: create a call as a user would, read what the webhook app
received and what Switchboard's timeline shows, and check payloads against Bandwidth's docs."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import httpx
from bandwidth.api.calls_api import CallsApi
from bandwidth.models.create_call import CreateCall

from tests.support.receiver import Receiver
from tests.support.server import (
    ACCOUNT_ID,
    APPLICATION_ID,
    FROM_NUMBER,
    VirtualTimeServer,
)

# eventTime and friends, as webhooks/answer.mdx shows them: 2019-06-20T15:54:25.435Z
TIME_FORMAT = re.compile(r"\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\Z")

# The fields every callback carries (webhooks/*.mdx), then each event's own.
COMMON = {
    "eventType",
    "eventTime",
    "accountId",
    "applicationId",
    "from",
    "to",
    "direction",
    "callId",
    "callUrl",
    "enqueuedTime",
    "startTime",
}
OWN_FIELDS = {
    "answer": {"answerTime"},
    "gather": {"answerTime", "digits", "terminatingDigit"},
    "redirect": {"answerTime"},
    "dtmf": {"answerTime", "digit"},
    "disconnect": {"endTime", "cause"},
}
TIME_FIELDS = ("eventTime", "enqueuedTime", "startTime", "answerTime", "endTime")


def create_call(
    calls_api: CallsApi,
    app: Receiver,
    to: str,
    *,
    answer: str = "/answer",
    disconnect: str | None = "/disconnect",
    **extra: Any,
) -> str:
    """Create a call with the SDK, its callbacks at these paths of `app` (or full URLs)."""
    body = CreateCall(
        to=to,
        var_from=FROM_NUMBER,
        application_id=APPLICATION_ID,
        answer_url=_url(app, answer),
        disconnect_url=_url(app, disconnect) if disconnect else None,
        **extra,
    )
    return str(calls_api.create_call(ACCOUNT_ID, body).call_id)


def _url(app: Receiver, path_or_url: str) -> str:
    return path_or_url if path_or_url.startswith("http") else app.url(path_or_url)


def now(vserver: VirtualTimeServer) -> datetime:
    """The virtual wall clock, to the millisecond (as Switchboard writes times)."""
    moment = vserver.clock.wall()
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def at(text: str) -> datetime:
    assert TIME_FORMAT.match(text), text
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def since(start: datetime, text: str) -> float:
    """Seconds from `start` to the time written in `text`."""
    return round((at(text) - start).total_seconds(), 3)


def check_event(
    event: dict[str, Any],
    event_type: str,
    call_id: str,
    to: str,
    *,
    optional: set[str] = frozenset(),
) -> dict[str, Any]:
    """`event` is a `event_type` callback of the call, with exactly the documented fields:
    the common ones, the event's own, and of the optional ones only those in `optional`."""
    assert event["eventType"] == event_type
    assert set(event) == COMMON | OWN_FIELDS[event_type] | set(optional), sorted(event)
    assert all(value is not None for value in event.values()), event
    assert event["accountId"] == ACCOUNT_ID
    assert event["applicationId"] == APPLICATION_ID
    assert event["from"] == FROM_NUMBER
    assert event["to"] == to
    assert event["direction"] == "outbound"
    assert event["callId"] == call_id
    assert event["callUrl"].endswith(f"/api/v2/accounts/{ACCOUNT_ID}/calls/{call_id}")
    for name in TIME_FIELDS:
        if name in event:
            at(event[name])
    return event


def one_disconnect(app: Receiver) -> dict[str, Any]:
    """The call's one and only disconnect event."""
    events = app.events("disconnect")
    assert len(events) == 1, events
    return events[0]


def timeline(switchboard: httpx.Client, call_id: str) -> list[dict[str, Any]]:
    response = switchboard.get(f"/switchboard/v1/accounts/{ACCOUNT_ID}/calls/{call_id}/timeline")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["callId"] == call_id
    entries: list[dict[str, Any]] = body["timeline"]
    assert [entry["sequence"] for entry in entries] == list(range(1, len(entries) + 1))
    return entries


def entries(items: list[dict[str, Any]], kind: str, **match: Any) -> list[dict[str, Any]]:
    return [
        item
        for item in items
        if item["kind"] == kind and all(item.get(k) == v for k, v in match.items())
    ]


def callee(switchboard: httpx.Client, call_id: str, action: str, **body: Any) -> httpx.Response:
    """Act as the simulated callee of a live call."""
    return switchboard.post(
        f"/switchboard/v1/accounts/{ACCOUNT_ID}/calls/{call_id}/callee",
        json={"action": action, **body},
    )
