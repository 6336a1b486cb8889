"""How a stored call reads back through the API: Bandwidth's `callState` object."""

from __future__ import annotations

from typing import Any

from switchboard.calls.ids import format_time
from switchboard.calls.model import QUEUED, Call


def call_state(call: Call) -> dict[str, Any]:
    def time(value: object) -> str | None:
        return format_time(value) if value is not None else None  # type: ignore[arg-type]

    return {
        "applicationId": call.request.application_id,
        "accountId": call.account_id,
        "callId": call.call_id,
        "parentCallId": call.extra.get("parent_call_id"),
        "to": call.request.to,
        "from": call.request.from_,
        "direction": call.direction,
        "state": call.state,
        "stirShaken": None,
        "identity": None,
        # Only outbound calls pass through the queue (an inbound one is never enqueued).
        "enqueuedTime": time(call.enqueued_time) if call.direction == "outbound" else None,
        "startTime": time(call.start_time),
        "answerTime": time(call.answer_time),
        "endTime": time(call.end_time),
        "disconnectCause": call.disconnect_cause,
        "errorMessage": call.error_message,
        "errorId": call.error_id,
        "lastUpdate": time(call.last_update or call.enqueued_time),
    }


def call_state_from_row(data: dict[str, Any]) -> dict[str, Any]:
    """`call_state(Call.from_row(data))` straight from a stored row (`Call.to_row`'s JSON),
    whose times are already Bandwidth's strings: no Call, no datetime round trip. listCalls
    builds a page of 1,000 this way in about a millisecond instead of about 40."""
    request = data["request"]
    enqueued_time = data["enqueued_time"]
    get = data.get  # fields a Call defaults (from_row accepts a row without them)
    return {
        "applicationId": request["application_id"],
        "accountId": data["account_id"],
        "callId": data["call_id"],
        "parentCallId": (data.get("extra") or {}).get("parent_call_id"),
        "to": request["to"],
        "from": request["from_"],
        "direction": get("direction", "outbound"),
        "state": get("state", QUEUED),
        "stirShaken": None,
        "identity": None,
        "enqueuedTime": enqueued_time if get("direction", "outbound") == "outbound" else None,
        "startTime": get("start_time"),
        "answerTime": get("answer_time"),
        "endTime": get("end_time"),
        "disconnectCause": get("disconnect_cause"),
        "errorMessage": get("error_message"),
        "errorId": get("error_id"),
        "lastUpdate": get("last_update") or enqueued_time,
    }
