"""GET /switchboard/v1/accounts/{a}/calls/{c}/timeline: what a developer debugging a call sees."""

from __future__ import annotations

import httpx
from bandwidth.api.calls_api import CallsApi
from bandwidth.models.bxml import Gather, Hangup, Pause, Redirect, Response, SpeakSentence

from tests.e2e.flow import at, callee, create_call, entries, now, since, timeline
from tests.e2e.phones import ANSWERS, PRESSES_1234
from tests.support.http import assert_error
from tests.support.receiver import Receiver
from tests.support.server import ACCOUNT_ID, OTHER_PASSWORD, OTHER_USERNAME, VirtualTimeServer


def test_timeline_of_a_whole_call(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    answer_bxml = Response(
        [
            SpeakSentence("Welcome"),
            Gather(gather_url="/gather", terminating_digits="#", tag="menu"),
        ]
    ).to_bxml()
    gather_bxml = Response([Pause(1), Redirect("/redirect")]).to_bxml()
    app.on("/answer", answer_bxml)
    app.on("/gather", gather_bxml)
    app.on("/redirect", Response([Hangup()]).to_bxml())
    created = now(vserver)
    call_id = create_call(calls_api, app, PRESSES_1234)
    vserver.advance(30)

    items = timeline(switchboard, call_id)
    assert [since(created, item["at"]) for item in items] == sorted(
        since(created, item["at"]) for item in items
    )
    # What happened, in order, with the call time of each step.
    story = [
        (since(created, item["at"]), item["kind"], item.get("state") or item.get("event"))
        for item in items
        if item["kind"] in ("state", "network")
    ]
    assert story == [
        (0, "state", "initiated"),
        (0, "network", "ringing"),
        (1.0, "network", "answered"),
        (1.0, "state", "answered"),
        (4.5, "state", "disconnected"),
    ]
    verbs = [
        (since(created, item["at"]), item["verb"], item["event"]) for item in entries(items, "verb")
    ]
    assert verbs == [
        (1.0, "SpeakSentence", "started"),
        (1.5, "SpeakSentence", "finished"),  # one word: the half-second minimum
        (1.5, "Gather", "started"),
        (3.5, "Gather", "finished"),
        (3.5, "Pause", "started"),
        (4.5, "Pause", "finished"),
    ]
    assert [item["digit"] for item in entries(items, "dtmf")] == list("1234#")
    assert [item["tag"] for item in entries(items, "tag")] == ["menu"]

    webhooks = entries(items, "webhook")
    assert [(w["eventType"], w["method"], w["url"], w["status"]) for w in webhooks] == [
        ("answer", "POST", app.url("/answer"), 200),
        ("gather", "POST", app.url("/gather"), 200),
        ("redirect", "POST", app.url("/redirect"), 200),
        ("disconnect", "POST", app.url("/disconnect"), 204),
    ]
    # Each request is exactly what the app received; each answer is the app's BXML.
    assert [w["request"] for w in webhooks] == app.events()
    assert webhooks[0]["responseBody"] == answer_bxml
    assert webhooks[1]["responseBody"] == gather_bxml
    assert all(w["latencyMs"] >= 0 and w["error"] is None for w in webhooks)

    response = switchboard.get(f"/switchboard/v1/accounts/{ACCOUNT_ID}/calls/{call_id}/timeline")
    assert response.json()["state"] == "disconnected"


def test_timeline_of_a_live_call_shows_what_happened_so_far(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    app.on("/answer", Response([Pause(60)]).to_bxml())
    call_id = create_call(calls_api, app, ANSWERS)
    vserver.advance(5)

    response = switchboard.get(f"/switchboard/v1/accounts/{ACCOUNT_ID}/calls/{call_id}/timeline")
    assert response.status_code == 200
    assert response.json()["state"] == "answered"
    last = response.json()["timeline"][-1]
    assert (last["kind"], last["verb"], last["event"], last["duration"]) == (
        "verb",
        "Pause",
        "started",
        60.0,
    )

    assert callee(switchboard, call_id, "hangup").status_code == 204
    vserver.advance(1)
    items = timeline(switchboard, call_id)
    pause = entries(items, "verb", verb="Pause")
    assert [entry["event"] for entry in pause] == ["started", "stopped"]
    assert since(at(pause[0]["at"]), pause[1]["at"]) == 3.0
    assert [e["event"] for e in entries(items, "network")] == ["ringing", "answered", "hangup"]


def test_timeline_records_failed_webhooks_and_the_error(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    app.on("/answer", (503, "x" * 2000))
    call_id = create_call(calls_api, app, ANSWERS)
    vserver.advance(30)

    items = timeline(switchboard, call_id)
    (answer,) = entries(items, "webhook", eventType="answer")
    assert answer["status"] == 503
    assert answer["error"] == f"{app.url('/answer')} answered HTTP 503"
    assert answer["responseBody"] == "x" * 500  # an excerpt, not the whole body
    errors = entries(items, "error")
    assert errors and all(e["cause"] == "callback-error" for e in errors)
    assert app.url("/answer") in errors[-1]["message"]


def test_timeline_errors_are_bandwidth_shaped(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    app.on("/answer", Response([Hangup()]).to_bxml())
    call_id = create_call(calls_api, app, ANSWERS)
    vserver.advance(5)
    path = f"/switchboard/v1/accounts/{ACCOUNT_ID}/calls/{call_id}/timeline"

    assert_error(
        switchboard.get(f"/switchboard/v1/accounts/{ACCOUNT_ID}/calls/c-unknown/timeline"),
        404,
        "validation",
    )
    assert_error(httpx.get(vserver.base_url + path), 401, "authentication-error")
    assert_error(
        httpx.get(vserver.base_url + path, auth=(OTHER_USERNAME, OTHER_PASSWORD)),
        403,
        "authorization-error",
    )
