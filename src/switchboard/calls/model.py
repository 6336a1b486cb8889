"""The stored call: what Switchboard knows of one call, and how it reads back as JSON."""

from __future__ import annotations

import copy
import operator
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from typing import Any

from switchboard.calls.create_request import CreateCallRequest, MachineDetection
from switchboard.calls.ids import format_time, parse_time

# Bandwidth's call states, in the order a call lives them.
QUEUED = "queued"
INITIATED = "initiated"
ANSWERED = "answered"
DISCONNECTED = "disconnected"
PASSWORD_MASK = "*****"


@dataclass(frozen=True, slots=True)
class Call:
    call_id: str
    account_id: str
    request: CreateCallRequest
    call_url: str
    enqueued_time: datetime
    state: str = QUEUED
    direction: str = "outbound"
    tag: str | None = None
    start_time: datetime | None = None
    answer_time: datetime | None = None
    end_time: datetime | None = None
    disconnect_cause: str | None = None
    error_message: str | None = None
    error_id: str | None = None
    last_update: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def evolve(self, **changes: Any) -> Call:
        return replace(self, **changes)

    def create_response(self) -> dict[str, Any]:
        """The 201 body: every field of the seed's example plus the current spec's."""
        request = self.request
        return {
            "accountId": self.account_id,
            "applicationId": request.application_id,
            "from": request.from_,
            "to": request.to,
            "callId": self.call_id,
            "callUrl": self.call_url,
            "enqueuedTime": format_time(self.enqueued_time),
            "callTimeout": request.call_timeout,
            "callbackTimeout": request.callback_timeout,
            "answerUrl": request.answer_url,
            "answerMethod": request.answer_method,
            "answerFallbackUrl": request.answer_fallback_url,
            "answerFallbackMethod": request.answer_fallback_method,
            "disconnectUrl": request.disconnect_url,
            "disconnectMethod": request.disconnect_method,
            "username": request.username,
            "password": _mask(request.password),
            "fallbackUsername": request.fallback_username,
            "fallbackPassword": _mask(request.fallback_password),
            "priority": request.priority,
            "tag": request.tag,
        }

    def to_row(self) -> dict[str, Any]:
        """A JSON-serialisable dict that `from_row` turns back into the same Call."""
        request = _request_row(self.request)
        # Written out field by field: a generic walk over the fields was a tenth of creating a
        # call. tests/unit/calls pin this to dataclasses.asdict's answer.
        enqueued = format_time(self.enqueued_time)
        return {
            "call_id": self.call_id,
            "account_id": self.account_id,
            "request": request,
            "call_url": self.call_url,
            "enqueued_time": enqueued,
            "state": self.state,
            "direction": self.direction,
            "tag": self.tag,
            "start_time": _same_or_format(self.start_time, self.enqueued_time, enqueued),
            "answer_time": _same_or_format(self.answer_time, self.enqueued_time, enqueued),
            "end_time": _same_or_format(self.end_time, self.enqueued_time, enqueued),
            "disconnect_cause": self.disconnect_cause,
            "error_message": self.error_message,
            "error_id": self.error_id,
            "last_update": _same_or_format(self.last_update, self.enqueued_time, enqueued),
            "extra": _copy_extra(self.extra),
        }

    @classmethod
    def from_row(cls, data: dict[str, Any]) -> Call:
        request_data = dict(data["request"])
        detection = request_data.get("machine_detection")
        request_data["machine_detection"] = MachineDetection(**detection) if detection else None
        values = dict(data)
        values["request"] = CreateCallRequest(**request_data)
        for name in _TIME_FIELDS:
            text = values.get(name)
            values[name] = parse_time(text) if text else None
        return cls(**values)


def _same_or_format(moment: datetime | None, known: datetime, known_text: str) -> str | None:
    if moment is None:
        return None
    return known_text if moment is known else format_time(moment)


def _copy_extra(extra: dict[str, Any]) -> dict[str, Any]:
    """A copy the row's reader may change: strings as they are, containers copied. (asdict's
    deep copy of everything was a tenth of a transfer target's CPU: each of its saves carries
    its parent's ids in `extra`.)"""
    return {
        key: copy.deepcopy(value) if isinstance(value, dict | list) else value
        for key, value in extra.items()
    }


def _mask(secret: str | None) -> str | None:
    return None if secret is None else PASSWORD_MASK


_TIME_FIELDS = ("enqueued_time", "start_time", "answer_time", "end_time", "last_update")

# A request's fields in one C call (its values are atoms: parse_create_call made them).
_REQUEST_FIELDS = tuple(item.name for item in fields(CreateCallRequest))
_request_values = operator.attrgetter(*_REQUEST_FIELDS)

# The row of each recent CreateCallRequest: a call is saved four or five times in its life
# with the same (frozen) request. Keyed by id(), with the request kept to check identity.
_REQUEST_ROWS_MAX = 4096
_request_rows: dict[int, tuple[CreateCallRequest, dict[str, Any]]] = {}


def _request_row(request: CreateCallRequest) -> dict[str, Any]:
    """The request's part of the row, as dataclasses.asdict would make it (shared: the rows
    are serialised, never changed)."""
    cached = _request_rows.get(id(request))
    if cached is not None and cached[0] is request:
        return cached[1]
    row = dict(zip(_REQUEST_FIELDS, _request_values(request), strict=True))
    if request.machine_detection is not None:
        row["machine_detection"] = asdict(request.machine_detection)
    if len(_request_rows) >= _REQUEST_ROWS_MAX:
        _request_rows.clear()
    _request_rows[id(request)] = (request, row)
    return row
