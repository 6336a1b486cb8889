"""The example application Switchboard serves itself (issue 14, "a first call that works with
nothing else running"): a call whose answerUrl is the example greets, gathers one key, says it
and hangs up, with Switchboard calling its own URLs over HTTP like any webhook app's."""

from __future__ import annotations

from typing import Any

import httpx
from bandwidth.api.calls_api import CallsApi
from bandwidth.models.create_call import CreateCall

from switchboard.api.routes_examples import GREETING, answer_url, disconnect_url
from tests.e2e.flow import entries, timeline
from tests.support.server import ACCOUNT_ID, APPLICATION_ID, FROM_NUMBER, VirtualTimeServer

PRESSES_1 = "+15555550105"  # answers after 1 s and presses "1234#" into each Gather


def example_call(calls_api: CallsApi, vserver: VirtualTimeServer, to: str) -> str:
    body = CreateCall(
        to=to,
        var_from=FROM_NUMBER,
        application_id=APPLICATION_ID,
        answer_url=answer_url(vserver.base_url),
        disconnect_url=disconnect_url(vserver.base_url),
    )
    return str(calls_api.create_call(ACCOUNT_ID, body).call_id)


def webhooks(items: list[dict[str, Any]]) -> list[tuple[str, str, int | None]]:
    return [(e["eventType"], e["url"], e["status"]) for e in entries(items, "webhook")]


def spoken(items: list[dict[str, Any]]) -> list[str]:
    return [e["text"] for e in entries(items, "verb", verb="SpeakSentence", event="started")]


def test_example_app_greets_gathers_says_the_key_and_hangs_up(
    vserver: VirtualTimeServer, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    call_id = example_call(calls_api, vserver, PRESSES_1)
    vserver.advance(60)

    items = timeline(switchboard, call_id)
    example = f"{vserver.base_url}/switchboard/v1/examples/ivr"
    assert webhooks(items) == [
        ("answer", f"{example}/answer", 200),
        ("gather", f"{example}/gather", 200),  # the relative gatherUrl, resolved
        ("disconnect", f"{example}/disconnect", 204),
    ]
    (gather,) = entries(items, "webhook", eventType="gather")
    assert gather["request"]["digits"] == "1"
    assert spoken(items) == [GREETING, "You pressed 1. Goodbye."]
    assert not entries(items, "error")
    call = switchboard.get(f"/api/v2/accounts/{ACCOUNT_ID}/calls/{call_id}").json()
    assert (call["state"], call["disconnectCause"]) == ("disconnected", "hangup")
    assert call["errorMessage"] is None


def test_example_app_says_so_when_no_key_is_pressed(
    vserver: VirtualTimeServer, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    call_id = example_call(calls_api, vserver, "+15555551313")  # the default phone: no keys
    vserver.advance(60)

    items = timeline(switchboard, call_id)
    (gather,) = entries(items, "webhook", eventType="gather")
    assert (gather["request"]["digits"], gather["status"]) == ("", 200)
    assert spoken(items) == [GREETING, "You pressed nothing. Goodbye."]
    call = switchboard.get(f"/api/v2/accounts/{ACCOUNT_ID}/calls/{call_id}").json()
    assert (call["state"], call["disconnectCause"]) == ("disconnected", "hangup")
