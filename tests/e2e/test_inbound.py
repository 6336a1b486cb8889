"""Inbound calls on the simulated network, as an app written for Bandwidth's inbound flow sees them.

A virtual phone dials one of the account's numbers (POST /switchboard/v1/phones/{from}/calls);
the application that number rings gets `initiate` (webhooks/initiate.mdx) at its
CallInitiatedCallbackUrl, its BXML runs, and `disconnect` goes to its CallStatusCallbackUrl. The
application's settings are set with the CLI, as an operator would, while the server runs.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest
from bandwidth.api.calls_api import CallsApi
from bandwidth.models.bxml import Gather, Hangup, Response, Ring, SpeakSentence

from switchboard.cli import main as cli
from tests.e2e.flow import entries, now, since, timeline
from tests.support.callback_timeouts import callback_timeouts
from tests.support.receiver import Hold, Received, Receiver
from tests.support.server import (
    ACCOUNT_ID,
    APPLICATION_ID,
    FROM_NUMBER,
    OTHER_ACCOUNT_NUMBER,
    VirtualTimeServer,
)

OUR_NUMBER = FROM_NUMBER  # the account's number that rings the application
UNROUTED_NUMBER = "+15555551213"  # the account's other number: it rings no application
CALLER = "+15555550107"  # a virtual phone (tests/e2e/conftest.py): "1" then "2#" to Gathers
QUIET_CALLER = "+15555550190"  # the default phone: presses nothing, never hangs up
INITIATE_FIELDS = {
    "eventType",
    "eventTime",
    "accountId",
    "applicationId",
    "from",
    "to",
    "direction",
    "callId",
    "callUrl",
    "startTime",
}


def configure(vserver: VirtualTimeServer, *options: str) -> None:
    assert cli([*options, "--data-dir", str(vserver.data_dir)]) == 0


@pytest.fixture
def inbound(vserver: VirtualTimeServer, app: Receiver) -> Iterator[Receiver]:
    """The account's application answers calls to OUR_NUMBER, its webhooks at `app`."""
    configure(
        vserver,
        "applications",
        "update",
        APPLICATION_ID,
        "--call-initiated-callback-url",
        app.url("/initiate"),
        "--call-status-callback-url",
        app.url("/status"),
    )
    configure(vserver, "numbers", "assign", OUR_NUMBER, APPLICATION_ID)
    yield app
    configure(vserver, "numbers", "unassign", OUR_NUMBER)


def dial(switchboard: httpx.Client, caller: str, to: str = OUR_NUMBER) -> httpx.Response:
    return switchboard.post(f"/switchboard/v1/phones/{caller}/calls", json={"to": to})


def dial_ok(switchboard: httpx.Client, caller: str, to: str = OUR_NUMBER) -> str:
    response = dial(switchboard, caller, to)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"callId"}
    return str(body["callId"])


def ivr_menu() -> str:
    menu = SpeakSentence("Press 1 for sales")  # 4 words: 1.6 s
    return Response(
        [
            Gather(gather_url="/menu", max_digits=1, first_digit_timeout=5, audio_verbs=[menu]),
            Hangup(),
        ]
    ).to_bxml()


def menu_choice(request: Received) -> str:
    if request.event["digits"] == "1":
        return Response([SpeakSentence("Sales says goodbye"), Hangup()]).to_bxml()
    return Response([SpeakSentence("Sorry"), Hangup()]).to_bxml()


def test_an_inbound_ivr_runs_from_initiate_to_disconnect(
    vserver: VirtualTimeServer,
    inbound: Receiver,
    switchboard: httpx.Client,
    calls_api: CallsApi,
) -> None:
    inbound.on("/initiate", ivr_menu())
    inbound.on("/menu", menu_choice)
    inbound.on("/status", "")
    started = now(vserver)
    call_id = dial_ok(switchboard, CALLER)
    vserver.advance(60)

    (initiate,) = inbound.events("initiate")
    assert set(initiate) == INITIATE_FIELDS, sorted(initiate)
    assert initiate["accountId"] == ACCOUNT_ID
    assert initiate["applicationId"] == APPLICATION_ID
    assert (initiate["from"], initiate["to"]) == (CALLER, OUR_NUMBER)
    assert initiate["direction"] == "inbound"
    assert initiate["callId"] == call_id
    assert initiate["callUrl"].endswith(f"/api/v2/accounts/{ACCOUNT_ID}/calls/{call_id}")
    assert since(started, initiate["startTime"]) == 0.0
    (gather,) = inbound.events("gather")
    assert gather["digits"] == "1" and gather["direction"] == "inbound"
    assert "enqueuedTime" not in gather  # disconnect.mdx: an outbound call's field
    (disconnect,) = inbound.events("disconnect")
    assert [r.path for r in inbound.received] == ["/initiate", "/menu", "/status"]
    assert disconnect["cause"] == "hangup" and disconnect["direction"] == "inbound"
    # The call answered as its first verb (the Gather) began: at once.
    assert since(started, disconnect["answerTime"]) == 0.0
    assert "enqueuedTime" not in disconnect

    state = calls_api.get_call_state(ACCOUNT_ID, call_id)
    assert state.direction == "inbound" and state.state == "disconnected"
    assert state.enqueued_time is None
    assert (state.var_from, state.to) == (CALLER, OUR_NUMBER)
    assert state.answer_time is not None and state.disconnect_cause == "hangup"
    listed = calls_api.list_calls(ACCOUNT_ID, var_from=CALLER)
    assert [(c.call_id, c.direction) for c in listed] == [(call_id, "inbound")]

    items = timeline(switchboard, call_id)
    states = [item["state"] for item in items if item["kind"] == "state"]
    assert states == ["initiated", "answered", "disconnected"]
    assert entries(items, "webhook", eventType="initiate")[0]["status"] == 200


def test_ring_without_answering_leaves_the_call_unanswered_until_a_verb_answers_it(
    vserver: VirtualTimeServer, inbound: Receiver, switchboard: httpx.Client
) -> None:
    inbound.on(
        "/initiate",
        Response(
            [Ring(duration=3, answer_call=False), SpeakSentence("Hello there"), Hangup()]
        ).to_bxml(),
    )
    started = now(vserver)
    call_id = dial_ok(switchboard, QUIET_CALLER)
    vserver.advance(1)
    state = switchboard.get(f"/api/v2/accounts/{ACCOUNT_ID}/calls/{call_id}").json()
    assert state["state"] == "initiated" and state["answerTime"] is None
    vserver.advance(60)
    (disconnect,) = inbound.events("disconnect")
    assert since(started, disconnect["answerTime"]) == 3.0  # answered by the SpeakSentence
    assert disconnect["cause"] == "hangup"


def test_ring_answers_by_default(
    vserver: VirtualTimeServer, inbound: Receiver, switchboard: httpx.Client
) -> None:
    inbound.on("/initiate", Response([Ring(duration=2), Hangup()]).to_bxml())
    started = now(vserver)
    dial_ok(switchboard, QUIET_CALLER)
    vserver.advance(60)
    (disconnect,) = inbound.events("disconnect")
    assert since(started, disconnect["answerTime"]) == 0.0
    assert since(started, disconnect["endTime"]) == 2.0


def test_hangup_first_rejects_the_call_unanswered(
    vserver: VirtualTimeServer, inbound: Receiver, switchboard: httpx.Client
) -> None:
    inbound.on("/initiate", Response([Hangup()]).to_bxml())
    call_id = dial_ok(switchboard, QUIET_CALLER)
    vserver.advance(10)
    (disconnect,) = inbound.events("disconnect")
    assert disconnect["callId"] == call_id and disconnect["cause"] == "hangup"
    assert "answerTime" not in disconnect


def test_a_caller_who_hangs_up_during_the_initiate_request_cancels_the_call(
    vserver: VirtualTimeServer, inbound: Receiver, switchboard: httpx.Client
) -> None:
    held = Hold()
    inbound.on("/initiate", held)
    call_id = dial_ok(switchboard, QUIET_CALLER)
    assert held.arrived.wait(10)  # the app holds the initiate request
    hangup = switchboard.post(
        f"/switchboard/v1/accounts/{ACCOUNT_ID}/calls/{call_id}/callee", json={"action": "hangup"}
    )
    assert hangup.status_code == 204, hangup.text
    held.release.set()
    vserver.advance(30)
    (disconnect,) = inbound.events("disconnect")
    assert disconnect["cause"] == "cancel" and "answerTime" not in disconnect


def test_a_caller_who_hangs_up_during_a_verb_ends_the_call_with_hangup(
    vserver: VirtualTimeServer, inbound: Receiver, switchboard: httpx.Client
) -> None:
    inbound.on("/initiate", Response([SpeakSentence("a long " * 50)]).to_bxml())
    call_id = dial_ok(switchboard, QUIET_CALLER)
    vserver.advance(5)
    hangup = switchboard.post(
        f"/switchboard/v1/accounts/{ACCOUNT_ID}/calls/{call_id}/callee", json={"action": "hangup"}
    )
    assert hangup.status_code == 204
    vserver.advance(5)
    (disconnect,) = inbound.events("disconnect")
    assert disconnect["cause"] == "hangup" and "answerTime" in disconnect


def test_the_caller_cannot_answer_its_own_call(
    vserver: VirtualTimeServer, inbound: Receiver, switchboard: httpx.Client
) -> None:
    inbound.on("/initiate", Response([Ring(duration=5, answer_call=False)]).to_bxml())
    call_id = dial_ok(switchboard, QUIET_CALLER)
    vserver.settle()
    answer = switchboard.post(
        f"/switchboard/v1/accounts/{ACCOUNT_ID}/calls/{call_id}/callee", json={"action": "answer"}
    )
    assert answer.status_code == 409
    assert "inbound" in answer.json()["description"]
    vserver.advance(30)


def test_a_failing_initiate_url_falls_back(
    vserver: VirtualTimeServer, inbound: Receiver, switchboard: httpx.Client
) -> None:
    configure(
        vserver,
        "applications",
        "update",
        APPLICATION_ID,
        "--call-initiated-fallback-url",
        inbound.url("/fallback"),
    )
    try:
        inbound.on("/initiate", (500, "broken"))
        inbound.on("/fallback", Response([SpeakSentence("From the fallback"), Hangup()]).to_bxml())
        dial_ok(switchboard, QUIET_CALLER)
        vserver.advance(30)
        assert [r.path for r in inbound.received] == ["/initiate", "/fallback", "/status"]
        assert inbound.events("disconnect")[0]["cause"] == "hangup"
    finally:
        configure(
            vserver, "applications", "update", APPLICATION_ID, "--call-initiated-fallback-url", ""
        )


def test_an_initiate_url_that_fails_ends_the_call_with_callback_error(
    vserver: VirtualTimeServer, inbound: Receiver, switchboard: httpx.Client
) -> None:
    inbound.on("/initiate", (503, "down"))
    dial_ok(switchboard, QUIET_CALLER)
    vserver.advance(30)
    (disconnect,) = inbound.events("disconnect")
    assert disconnect["cause"] == "callback-error"
    assert "initiate callback failed" in disconnect["errorMessage"]


@pytest.mark.parametrize(
    ("to", "status", "says"),
    [
        ("+15555550000", 404, "not a number of any account"),
        (UNROUTED_NUMBER, 404, "rings no application"),
        (OTHER_ACCOUNT_NUMBER, 404, "rings no application"),
        ("5555551212", 400, "Invalid to"),
    ],
)
def test_calls_nobody_takes_are_refused_and_appear_on_no_account(
    vserver: VirtualTimeServer,
    inbound: Receiver,
    switchboard: httpx.Client,
    to: str,
    status: int,
    says: str,
) -> None:
    before = switchboard.get(f"/api/v2/accounts/{ACCOUNT_ID}/calls").json()
    response = dial(switchboard, QUIET_CALLER, to)
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"type", "description", "id"} and says in body["description"]
    assert switchboard.get(f"/api/v2/accounts/{ACCOUNT_ID}/calls").json() == before
    assert inbound.received == []


def test_a_bad_caller_number_or_body_is_a_400(
    vserver: VirtualTimeServer, inbound: Receiver, switchboard: httpx.Client
) -> None:
    bad_caller = switchboard.post("/switchboard/v1/phones/12345/calls", json={"to": OUR_NUMBER})
    assert bad_caller.status_code == 400 and "E.164" in bad_caller.json()["description"]
    no_to = switchboard.post(f"/switchboard/v1/phones/{CALLER}/calls", json={})
    assert no_to.status_code == 400 and "to" in no_to.json()["description"]
    unauthenticated = httpx.post(
        f"{vserver.base_url}/switchboard/v1/phones/{CALLER}/calls", json={"to": OUR_NUMBER}
    )
    assert unauthenticated.status_code == 401


def test_inbound_calls_count_against_the_concurrent_limit_and_are_refused_over_it(
    vserver: VirtualTimeServer, inbound: Receiver, switchboard: httpx.Client
) -> None:
    configure(vserver, "accounts", "limits", ACCOUNT_ID, "--concurrent", "1")
    try:
        inbound.on("/initiate", Response([SpeakSentence("hold on " * 20), Hangup()]).to_bxml())
        first = dial_ok(switchboard, QUIET_CALLER)
        vserver.settle()
        refused = dial(switchboard, QUIET_CALLER)
        assert refused.status_code == 429
        assert "concurrent call limit" in refused.json()["description"]
        metrics = switchboard.get("/metrics").text
        assert (
            f'switchboard_inbound_calls_refused_total{{account="{ACCOUNT_ID}",'
            'reason="account-limit"}' in metrics
        )
        vserver.advance(60)
        assert [e["callId"] for e in inbound.events("disconnect")] == [first]
    finally:
        configure(vserver, "accounts", "limits", ACCOUNT_ID, "--default")


def test_update_and_put_bxml_work_on_an_answered_inbound_call(
    vserver: VirtualTimeServer, inbound: Receiver, switchboard: httpx.Client
) -> None:
    inbound.on("/initiate", Response([SpeakSentence("a long " * 50)]).to_bxml())
    call_id = dial_ok(switchboard, QUIET_CALLER)
    vserver.advance(2)
    put = switchboard.put(
        f"/api/v2/accounts/{ACCOUNT_ID}/calls/{call_id}/bxml",
        content=Response([SpeakSentence("Replaced"), Hangup()]).to_bxml(),
        headers={"Content-Type": "application/xml"},
    )
    assert put.status_code == 204, put.text
    vserver.advance(30)
    (disconnect,) = inbound.events("disconnect")
    assert disconnect["cause"] == "hangup"
    spoken = [
        e["text"]
        for e in entries(timeline(switchboard, call_id), "verb", event="started")
        if "text" in e
    ]
    assert spoken[-1] == "Replaced"


def test_uui_and_diversion_reach_the_initiate_event_in_initiate_mdx_s_order(
    vserver: VirtualTimeServer, inbound: Receiver, switchboard: httpx.Client
) -> None:
    inbound.on("/initiate", Response([Hangup()]).to_bxml())
    uui = "aGVsbG8gd29ybGQ;encoding=base64"
    response = switchboard.post(
        f"/switchboard/v1/phones/{QUIET_CALLER}/calls",
        json={
            "to": OUR_NUMBER,
            "uui": uui,
            "diversion": {"reason": "unavailable", "origTo": "+15558884444", "unknown": "x"},
        },
    )
    assert response.status_code == 201, response.text
    vserver.advance(5)
    (initiate,) = inbound.events("initiate")
    assert list(initiate) == [
        "eventType",
        "eventTime",
        "accountId",
        "applicationId",
        "from",
        "to",
        "uui",
        "direction",
        "callId",
        "callUrl",
        "startTime",
        "diversion",
    ]
    assert initiate["uui"] == uui
    assert initiate["diversion"] == {
        "origTo": "+15558884444",
        "reason": "unavailable",
        "unknown": "x",
    }
    bad = switchboard.post(
        f"/switchboard/v1/phones/{QUIET_CALLER}/calls",
        json={"to": OUR_NUMBER, "diversion": {"reason": "busy"}},
    )
    assert bad.status_code == 400 and "origTo" in bad.json()["description"]


def test_update_call_redirects_an_inbound_call_relative_to_its_initiate_url(
    vserver: VirtualTimeServer, inbound: Receiver, switchboard: httpx.Client
) -> None:
    inbound.on("/initiate", Response([SpeakSentence("a long " * 50)]).to_bxml())
    inbound.on("/moved", Response([SpeakSentence("Moved"), Hangup()]).to_bxml())
    call_id = dial_ok(switchboard, QUIET_CALLER)
    vserver.advance(2)
    redirect = switchboard.post(
        f"/api/v2/accounts/{ACCOUNT_ID}/calls/{call_id}", json={"redirectUrl": "/moved"}
    )
    assert redirect.status_code == 200, redirect.text
    vserver.advance(30)
    assert [r.path for r in inbound.received] == ["/initiate", "/moved", "/status"]
    (event,) = inbound.events("redirect")
    assert event["direction"] == "inbound" and "enqueuedTime" not in event


def test_put_bxml_relative_urls_resolve_against_the_initiate_url(
    vserver: VirtualTimeServer, inbound: Receiver, switchboard: httpx.Client
) -> None:
    inbound.on("/initiate", Response([SpeakSentence("a long " * 50)]).to_bxml())
    inbound.on("/next", Response([Hangup()]).to_bxml())
    call_id = dial_ok(switchboard, QUIET_CALLER)
    vserver.advance(2)
    put = switchboard.put(
        f"/api/v2/accounts/{ACCOUNT_ID}/calls/{call_id}/bxml",
        content='<?xml version="1.0"?><Bxml><Redirect redirectUrl="next"/></Bxml>',
        headers={"Content-Type": "application/xml"},
    )
    assert put.status_code == 204, put.text
    vserver.advance(30)
    assert [r.path for r in inbound.received] == ["/initiate", "/next", "/status"]


def test_completed_before_answering_rejects_and_after_hangs_up(
    vserver: VirtualTimeServer, inbound: Receiver, switchboard: httpx.Client
) -> None:
    inbound.on("/initiate", Response([Ring(duration=30, answer_call=False)]).to_bxml())
    ringing = dial_ok(switchboard, QUIET_CALLER)
    vserver.advance(1)
    early = switchboard.post(
        f"/api/v2/accounts/{ACCOUNT_ID}/calls/{ringing}", json={"state": "completed"}
    )
    assert early.status_code == 200, early.text
    vserver.advance(5)
    (rejected,) = inbound.events("disconnect")
    assert rejected["cause"] == "hangup" and "answerTime" not in rejected


def test_calls_show_prints_an_inbound_call(
    vserver: VirtualTimeServer,
    inbound: Receiver,
    switchboard: httpx.Client,
    capsys: pytest.CaptureFixture[str],
) -> None:
    inbound.on("/initiate", Response([SpeakSentence("Hi"), Hangup()]).to_bxml())
    call_id = dial_ok(switchboard, QUIET_CALLER)
    vserver.advance(10)
    capsys.readouterr()
    configure(vserver, "calls", "show", call_id)
    shown = capsys.readouterr().out
    assert "inbound" in shown and "initiate" in shown and QUIET_CALLER in shown


def test_the_application_s_credentials_and_callback_timeout_apply(
    vserver: VirtualTimeServer,
    inbound: Receiver,
    switchboard: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configure(
        vserver,
        "applications",
        "update",
        APPLICATION_ID,
        "--callback-username",
        "hook",
        "--callback-password",
        "hook-secret",
        "--callback-timeout",
        "7",
    )
    try:
        timeouts = callback_timeouts(vserver, monkeypatch)
        held = Hold(limit=5)

        def hold_past_the_timeout(_: Received) -> Hold:
            timeouts.forward(7.0)  # only the application's 7 s can have run out, not 15 s
            return held

        inbound.on("/initiate", hold_past_the_timeout)
        call_id = dial_ok(switchboard, QUIET_CALLER)
        try:
            vserver.advance(10)  # settles once the server gave up on the held request
        finally:
            held.release.set()
        (disconnect,) = inbound.events("disconnect")
        assert disconnect["cause"] == "callback-error"
        assert "no response within 7.0 s" in disconnect["errorMessage"]
        expected = "Basic " + base64.b64encode(b"hook:hook-secret").decode()
        assert [r.headers.get("Authorization") for r in inbound.received] == [expected] * 2
        items = timeline(switchboard, call_id)
        assert "hook-secret" not in str(items)
    finally:
        for option in ("--callback-username", "--callback-password"):
            configure(vserver, "applications", "update", APPLICATION_ID, option, "")
        configure(vserver, "applications", "update", APPLICATION_ID, "--callback-timeout", "")


# -- <Forward> (bxml/forward.mdx): an inbound call handed to another number ------------------


def forward_to(number: str, **attributes: object) -> str:
    attrs = " ".join(f'{name}="{value}"' for name, value in attributes.items())
    return f'<?xml version="1.0"?><Response><Forward to="{number}" {attrs}/></Response>'


def test_forward_connects_the_caller_when_the_target_answers_and_ends_with_either(
    vserver: VirtualTimeServer, inbound: Receiver, switchboard: httpx.Client
) -> None:
    inbound.on("/initiate", forward_to("+15555550106", **{"from": "+15555550000"}))
    started = now(vserver)
    call_id = dial_ok(switchboard, QUIET_CALLER)
    vserver.advance(0.5)
    ringing = switchboard.get(f"/api/v2/accounts/{ACCOUNT_ID}/calls/{call_id}").json()
    assert ringing["state"] == "initiated"  # not answered until the target answers
    vserver.advance(60)
    # The target answers after 1 s and hangs up 5 s later; the call ends with it.
    (disconnect,) = inbound.events("disconnect")
    assert disconnect["cause"] == "hangup"
    assert since(started, disconnect["answerTime"]) == 1.0
    assert since(started, disconnect["endTime"]) == 6.0
    assert [r.path for r in inbound.received] == ["/initiate", "/status"]  # no other webhook
    forwarded = entries(timeline(switchboard, call_id), "forward")
    assert [e["event"] for e in forwarded] == ["started", "ringing", "answered", "joined", "hangup"]
    assert forwarded[0]["to"] == "+15555550106" and forwarded[0]["from"] == "+15555550000"


@pytest.mark.parametrize(
    ("target", "cause"),
    [("+15555550101", "busy"), ("+15555550102", "rejected"), ("+15555550103", "timeout")],
)
def test_forward_to_a_target_that_does_not_answer_ends_the_call_with_its_outcome(
    vserver: VirtualTimeServer,
    inbound: Receiver,
    switchboard: httpx.Client,
    target: str,
    cause: str,
) -> None:
    inbound.on("/initiate", forward_to(target, callTimeout="10"))
    dial_ok(switchboard, QUIET_CALLER)
    vserver.advance(60)
    (disconnect,) = inbound.events("disconnect")
    assert disconnect["cause"] == cause and "answerTime" not in disconnect


def test_a_forwarded_call_takes_no_more_bxml_but_can_be_ended(
    vserver: VirtualTimeServer, inbound: Receiver, switchboard: httpx.Client
) -> None:
    inbound.on("/initiate", forward_to("+15555550190"))  # answers after 2 s, stays
    call_id = dial_ok(switchboard, QUIET_CALLER)
    vserver.advance(5)
    url = f"/api/v2/accounts/{ACCOUNT_ID}/calls/{call_id}"
    redirect = switchboard.post(url, json={"redirectUrl": "/elsewhere"})
    assert redirect.status_code == 409 and "forwarded" in redirect.json()["description"]
    put = switchboard.put(
        url + "/bxml",
        content="<Bxml><Hangup/></Bxml>",
        headers={"Content-Type": "application/xml"},
    )
    assert put.status_code == 409
    assert switchboard.post(url, json={"state": "completed"}).status_code == 200
    vserver.advance(5)
    (disconnect,) = inbound.events("disconnect")
    assert disconnect["cause"] == "hangup"


def test_the_caller_hanging_up_while_the_forward_rings_cancels_it(
    vserver: VirtualTimeServer, inbound: Receiver, switchboard: httpx.Client
) -> None:
    inbound.on("/initiate", forward_to("+15555550103"))  # never answers
    call_id = dial_ok(switchboard, QUIET_CALLER)
    vserver.advance(3)
    hangup = switchboard.post(
        f"/switchboard/v1/accounts/{ACCOUNT_ID}/calls/{call_id}/callee", json={"action": "hangup"}
    )
    assert hangup.status_code == 204
    vserver.advance(5)
    (disconnect,) = inbound.events("disconnect")
    assert disconnect["cause"] == "cancel"
