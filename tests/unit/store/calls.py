"""Calls as the store's tests build them: in one account, at one instant, queued unless told."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from switchboard.calls.create_request import parse_create_call
from switchboard.calls.model import DISCONNECTED, INITIATED, Call
from tests.support.create_call_cases import seed_body

ACCOUNT = "9900001"
T0 = datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
NUMBERS = ["+15555550001", "+15555550002", "+15555550003"]
FROMS = ["+15555551212", "+15555551213"]


def make_call(
    number: int,
    *,
    account: str = ACCOUNT,
    enqueued: datetime = T0,
    to: str = NUMBERS[0],
    from_: str = FROMS[0],
    started: datetime | None = None,
    ended: datetime | None = None,
    cause: str | None = None,
) -> Call:
    call_id = f"c-{number:08x}-00000000-0000-4000-8000-000000000000"
    request = replace(parse_create_call(seed_body()), to=to, from_=from_)
    return Call(
        call_id=call_id,
        account_id=account,
        request=request,
        call_url=f"http://127.0.0.1/api/v2/accounts/{account}/calls/{call_id}",
        enqueued_time=enqueued,
        state=DISCONNECTED if ended else (INITIATED if started else "queued"),
        start_time=started,
        end_time=ended,
        disconnect_cause=cause if ended else None,
        error_message="Callee is busy" if cause == "busy" else None,
        last_update=ended or started,
    )
