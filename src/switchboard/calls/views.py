"""How a stored call reads back through the API: Bandwidth's `callState` object."""

from __future__ import annotations

from typing import Any

from switchboard.calls.ids import format_time
from switchboard.calls.model import Call


def call_state(call: Call) -> dict[str, Any]:
    def time(value: object) -> str | None:
        return format_time(value) if value is not None else None  # type: ignore[arg-type]

    return {
        "applicationId": call.request.application_id,
        "accountId": call.account_id,
        "callId": call.call_id,
        "parentCallId": None,
        "to": call.request.to,
        "from": call.request.from_,
        "direction": call.direction,
        "state": call.state,
        "stirShaken": None,
        "identity": None,
        "enqueuedTime": time(call.enqueued_time),
        "startTime": time(call.start_time),
        "answerTime": time(call.answer_time),
        "endTime": time(call.end_time),
        "disconnectCause": call.disconnect_cause,
        "errorMessage": call.error_message,
        "errorId": call.error_id,
        "lastUpdate": time(call.last_update or call.enqueued_time),
    }
