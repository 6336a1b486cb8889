"""Call.to_row: the stored form of a call, exactly what dataclasses.asdict would give."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from switchboard.calls.create_request import parse_create_call
from switchboard.calls.ids import format_time
from switchboard.calls.model import Call
from tests.support.create_call_cases import seed_body

MOMENT = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def reference_row(call: Call) -> dict[str, Any]:
    data = asdict(call)
    for name in ("enqueued_time", "start_time", "answer_time", "end_time", "last_update"):
        moment = getattr(call, name)
        data[name] = format_time(moment) if moment else None
    return data


def make_call(**changes: Any) -> Call:
    body = changes.pop("body", seed_body())
    values: dict[str, Any] = {
        "call_id": "c-12345678-00000000-0000-4000-8000-000000000000",
        "account_id": "9900001",
        "request": parse_create_call(body),
        "call_url": "http://127.0.0.1:8080/api/v2/accounts/9900001/calls/c-1",
        "enqueued_time": MOMENT,
        "last_update": MOMENT,
    }
    return Call(**(values | changes))


CALLS = {
    "new": make_call(),
    "no-last-update": make_call(last_update=None),
    "placed-at-creation": make_call(state="initiated", start_time=MOMENT),
    "equal-not-same-times": make_call(start_time=MOMENT + timedelta(0), last_update=MOMENT),
    "ended": make_call(
        state="disconnected",
        start_time=MOMENT + timedelta(seconds=1),
        answer_time=MOMENT + timedelta(seconds=3),
        end_time=MOMENT + timedelta(seconds=60),
        last_update=MOMENT + timedelta(seconds=60),
        disconnect_cause="hangup",
    ),
    "every-field": make_call(
        body=seed_body(
            tag="t",
            password="secret",
            callTimeout=12.5,
            machineDetection={"mode": "sync", "callbackUrl": "https://example.com/md"},
        )
    ),
    "extra": make_call(extra={"nested": [1, {"a": None}], "when": "now"}),
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_to_row_is_asdict_with_formatted_times(call: Call) -> None:
    row = call.to_row()
    assert row == reference_row(call)
    assert orjson.dumps(row) == orjson.dumps(reference_row(call))  # same keys, same order
    assert Call.from_row(orjson.loads(orjson.dumps(row))).to_row() == row


def test_to_row_copies_extra() -> None:
    call = CALLS["extra"]
    row = call.to_row()
    row["extra"]["nested"].append(2)
    assert call.extra == {"nested": [1, {"a": None}], "when": "now"}
