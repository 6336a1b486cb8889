"""The IVR of tests/e2e/test_ivr.py, unchanged, on a real SIP call: baresip is the caller's
phone and presses "1" in the first menu and "2#" in the second, as the virtual phone does.
The application must see the same webhooks, apart from the SIP fields and the timings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from bandwidth.api.calls_api import CallsApi

from tests.e2e.flow import check_event, create_call, entries, timeline
from tests.e2e.test_ivr import SPOKEN, account_entered, main_menu, menu_choice, sales
from tests.e2e_sip.timeline import wait_for_timeline
from tests.support.baresip import BaresipPhone
from tests.support.receiver import Receiver

TIMINGS = {"eventTime", "enqueuedTime", "startTime", "answerTime", "endTime"}
SIP_FIELDS = {"sipCallId", "sipResponseCode"}


def comparable(event: dict[str, Any]) -> dict[str, Any]:
    """What must be equal on both networks: everything but times, ids and SIP fields."""
    ignored = TIMINGS | SIP_FIELDS | {"callId", "callUrl", "to"}
    return {key: value for key, value in event.items() if key not in ignored}


# What the application receives from the simulated network (tests/e2e/test_ivr.py asserts the
# same sequence there); `to` differs (a number there, baresip's SIP URI here).
EXPECTED = [
    ("/answer", {"eventType": "answer"}),
    ("/menu", {"eventType": "gather", "digits": "1", "terminatingDigit": ""}),
    ("/sales", {"eventType": "redirect"}),
    ("/account", {"eventType": "gather", "digits": "2", "terminatingDigit": "#"}),
    ("/disconnect", {"eventType": "disconnect", "cause": "hangup"}),
]


def press_in_gather(
    switchboard: httpx.Client, call_id: str, phone: BaresipPhone, keys: str, nth: int
) -> None:
    """Once the call's `nth` Gather listens, press `keys` on the phone."""
    wait_for_timeline(
        switchboard, call_id, "verb", timeout=30, nth=nth, verb="Gather", event="started"
    )
    for key in keys:
        phone.command("sndcode", key)


def test_the_ivr_gives_the_same_webhooks_on_a_real_call(
    app: Receiver,
    calls_api: CallsApi,
    switchboard: httpx.Client,
    phone: BaresipPhone,
    tmp_path: Path,
) -> None:
    app.on("/answer", main_menu())
    app.on("/menu", menu_choice)
    app.on("/sales", sales())
    app.on("/account", account_entered)
    call_id = create_call(calls_api, app, phone.uri, tag="ivr")

    press_in_gather(switchboard, call_id, phone, "1", nth=1)
    app.wait_events("redirect", timeout=30)
    press_in_gather(switchboard, call_id, phone, "2#", nth=2)
    app.wait_events("disconnect", timeout=30)

    received = [(r.path, comparable(r.event)) for r in app.received]
    common = {
        "accountId": "9900001",
        "applicationId": "7fc9698a-b04a-468b-9e8f-91238c0d0086",
        "from": "+15555551212",
        "direction": "outbound",
        "tag": "ivr",
    }
    assert received == [(path, {**common, **fields}) for path, fields in EXPECTED]
    answer = app.events("answer")[0]
    check_event(answer, "answer", call_id, phone.uri, optional={"tag", "sipCallId"})
    spoken = [
        entry["text"]
        for entry in entries(timeline(switchboard, call_id), "verb", event="started")
        if entry["verb"] == "SpeakSentence"
    ]
    assert spoken == SPOKEN
