"""Callback payloads (pure): the fields every event carries, then the event's own.

Field order and presence follow Bandwidth's webhook pages: optional fields (tag, answerTime,
errorMessage...) are left out when they have no value, rather than sent as null.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from switchboard.calls.ids import format_time
from switchboard.calls.model import Call


def common_fields(call: Call, event_type: str, event_time: datetime) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "eventType": event_type,
        "eventTime": format_time(event_time),
        "accountId": call.account_id,
        "applicationId": call.request.application_id,
        "from": call.request.from_,
        "to": call.request.to,
        "direction": call.direction,
        "callId": call.call_id,
        "callUrl": call.call_url,
    }
    if call.direction == "outbound":  # disconnect.mdx: enqueuedTime is an outbound call's
        payload["enqueuedTime"] = format_time(call.enqueued_time)
    if call.start_time is not None:
        payload["startTime"] = format_time(call.start_time)
    if call.answer_time is not None:
        payload["answerTime"] = format_time(call.answer_time)
    if call.tag:
        payload["tag"] = call.tag
    parent = call.extra.get("parent_call_id")
    if parent:  # a transfer target's events name the call that rang it
        payload["parentCallId"] = parent
    return payload


def _as_transfer_target(call: Call, payload: dict[str, Any]) -> dict[str, Any]:
    """transferAnswer / transferDisconnect: `from` and `to` are the original call's; the
    target's own are transferCallerId and transferTo."""
    payload["from"] = call.extra.get("parent_from", call.request.from_)
    payload["to"] = call.extra.get("parent_to", call.request.to)
    payload["transferCallerId"] = call.extra.get("transfer_caller_id", call.request.from_)
    payload["transferTo"] = call.extra.get("transfer_to", call.request.to)
    return payload


def transfer_answer_payload(call: Call, event_time: datetime) -> dict[str, Any]:
    return _as_transfer_target(call, common_fields(call, "transferAnswer", event_time))


def transfer_disconnect_payload(call: Call, event_time: datetime) -> dict[str, Any]:
    """transferDisconnect.mdx lists no accountId or applicationId."""
    payload = disconnect_payload(call, event_time)
    payload["eventType"] = "transferDisconnect"
    del payload["accountId"], payload["applicationId"]
    return _as_transfer_target(call, payload)


def initiate_payload(call: Call, event_time: datetime) -> dict[str, Any]:
    """initiate.mdx: in its order, with uui and diversion only when the network had them."""
    payload: dict[str, Any] = {
        "eventType": "initiate",
        "eventTime": format_time(event_time),
        "accountId": call.account_id,
        "applicationId": call.request.application_id,
        "from": call.request.from_,
        "to": call.request.to,
    }
    if call.request.uui:
        payload["uui"] = call.request.uui
    payload["direction"] = call.direction
    payload["callId"] = call.call_id
    payload["callUrl"] = call.call_url
    if call.start_time is not None:
        payload["startTime"] = format_time(call.start_time)
    diversion = call.extra.get("diversion")
    if diversion:
        payload["diversion"] = dict(diversion)
    return payload


def answer_payload(call: Call, event_time: datetime) -> dict[str, Any]:
    return common_fields(call, "answer", event_time)


def disconnect_payload(call: Call, event_time: datetime) -> dict[str, Any]:
    payload = common_fields(call, "disconnect", event_time)
    if call.end_time is not None:
        payload["endTime"] = format_time(call.end_time)
    payload["cause"] = call.disconnect_cause or "unknown"
    if call.error_message:
        payload["errorMessage"] = call.error_message
    if call.error_id:
        payload["errorId"] = call.error_id
    return payload


# recordingAvailable.mdx and transcriptionAvailable.mdx list no answerTime (recordComplete.mdx
# does); the transcriptionAvailable of a transcription requested through the API has none either.
_WITHOUT_ANSWER_TIME = frozenset({"recordingAvailable", "transcriptionAvailable"})


def event_payload(
    call: Call, event_type: str, event_time: datetime, fields: dict[str, Any]
) -> dict[str, Any]:
    """An event raised by a BXML verb (gather, redirect, dtmf...): common fields plus its own.
    A `tag` among the verb's fields (the interpreter's tag at that moment) wins over the call's."""
    payload = common_fields(call, event_type, event_time)
    if event_type in _WITHOUT_ANSWER_TIME:
        payload.pop("answerTime", None)
    if "tag" in fields:
        payload.pop("tag", None)
    for name, value in fields.items():
        if name == "tag":
            if value:
                payload["tag"] = value
        elif value is not None:
            payload[name] = value
    return payload
