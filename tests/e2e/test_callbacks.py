"""The answer and disconnect callbacks as the webhook app receives them: method, body or query
string, basic auth, the fallback URL, and callbackTimeout."""

from __future__ import annotations

import base64

import httpx
import pytest
from bandwidth.api.calls_api import CallsApi
from bandwidth.models.bxml import Hangup, Pause, Response, SpeakSentence

from tests.e2e.flow import (
    TIME_FORMAT,
    at,
    check_event,
    create_call,
    entries,
    now,
    one_disconnect,
    since,
    timeline,
)
from tests.e2e.phones import ANSWERS
from tests.support.callback_timeouts import callback_timeouts
from tests.support.receiver import Hold, Received, Receiver
from tests.support.server import VirtualTimeServer

# Far longer than any stall of a loaded machine: tests move the server's clock past it.
CALLBACK_TIMEOUT = 10.0


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def test_answer_is_a_json_post_with_the_documented_fields(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    app.on("/answer", Response([Hangup()]).to_bxml())
    created = now(vserver)
    call_id = create_call(calls_api, app, ANSWERS)
    vserver.advance(30)

    (request,) = app.requests("/answer")
    assert request.method == "POST"
    assert request.headers["Content-Type"] == "application/json"
    assert "Authorization" not in request.headers
    answer = check_event(request.event, "answer", call_id, ANSWERS)
    assert since(created, answer["enqueuedTime"]) == 0
    assert since(created, answer["startTime"]) == 0
    assert since(created, answer["answerTime"]) == 2.0
    assert answer["eventTime"] == answer["answerTime"]
    assert "tag" not in answer  # none was set: absent, not null


def test_answer_method_get_passes_the_fields_as_query_parameters(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    app.on("/answer", Response([Hangup()]).to_bxml())
    call_id = create_call(calls_api, app, ANSWERS, answer_method="GET", tag="via-get")

    vserver.advance(30)

    (request,) = app.requests("/answer")
    assert request.method == "GET" and request.body is None
    answer = check_event(request.query, "answer", call_id, ANSWERS, optional={"tag"})
    assert answer["tag"] == "via-get"
    assert TIME_FORMAT.match(answer["eventTime"])
    # The disconnect still uses its own (default) method.
    (disconnect,) = app.requests("/disconnect")
    assert disconnect.method == "POST"


def test_disconnect_method_get(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    app.on("/answer", Response([Pause(1)]).to_bxml())
    call_id = create_call(calls_api, app, ANSWERS, disconnect_method="GET")
    vserver.advance(30)

    (request,) = app.requests("/disconnect")
    assert request.method == "GET" and request.body is None
    disconnect = check_event(request.query, "disconnect", call_id, ANSWERS, optional={"answerTime"})
    assert disconnect["cause"] == "hangup"
    assert since(at(disconnect["answerTime"]), disconnect["endTime"]) == 1.0


def test_basic_auth_on_answer_and_disconnect(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    app.on("/answer", Response([SpeakSentence("Hello")]).to_bxml())
    call_id = create_call(
        calls_api, app, ANSWERS, username="hook-user", password="hook-secret:with:colons"
    )
    vserver.advance(30)

    expected = basic("hook-user", "hook-secret:with:colons")
    (answer,) = app.requests("/answer")
    (disconnect,) = app.requests("/disconnect")
    assert answer.headers["Authorization"] == expected
    assert disconnect.headers["Authorization"] == expected
    # The timeline shows the exchange, never the secret.
    assert "hook-secret" not in str(timeline(switchboard, call_id))


def test_answer_fallback_url_with_its_own_credentials_when_the_answer_url_fails(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    app.on("/answer", (500, "boom"))
    app.on("/fallback", Response([SpeakSentence("From the fallback"), Hangup()]).to_bxml())
    call_id = create_call(
        calls_api,
        app,
        ANSWERS,
        username="main-user",
        password="main-pass",
        answer_fallback_url=app.url("/fallback"),
        fallback_username="fb-user",
        fallback_password="fb-pass",
    )
    vserver.advance(30)

    (primary,) = app.requests("/answer")
    (fallback,) = app.requests("/fallback")
    assert primary.headers["Authorization"] == basic("main-user", "main-pass")
    assert fallback.headers["Authorization"] == basic("fb-user", "fb-pass")
    assert fallback.method == "POST"
    assert fallback.event == primary.event  # the same answer event, retried elsewhere
    check_event(fallback.event, "answer", call_id, ANSWERS)
    disconnect = one_disconnect(app)
    assert disconnect["cause"] == "hangup"
    assert "errorMessage" not in disconnect
    assert disconnect["endTime"] > disconnect["answerTime"]  # the fallback's BXML ran
    webhooks = entries(timeline(switchboard, call_id), "webhook", eventType="answer")
    assert [(w["url"], w["status"]) for w in webhooks] == [
        (app.url("/answer"), 500),
        (app.url("/fallback"), 200),
    ]


def test_answer_fallback_method_get(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    app.on("/answer", (404, "not here"))
    app.on("/fallback", Response([Hangup()]).to_bxml())
    call_id = create_call(
        calls_api,
        app,
        ANSWERS,
        answer_fallback_url=app.url("/fallback"),
        answer_fallback_method="GET",
    )
    vserver.advance(30)

    (fallback,) = app.requests("/fallback")
    assert fallback.method == "GET"
    check_event(fallback.query, "answer", call_id, ANSWERS)
    assert one_disconnect(app)["cause"] == "hangup"


def test_fallback_is_used_when_the_answer_url_exceeds_callback_timeout(
    vserver: VirtualTimeServer,
    app: Receiver,
    other_app: Receiver,
    calls_api: CallsApi,
    switchboard: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    timeouts = callback_timeouts(vserver, monkeypatch)
    # Answers (with no BXML) well before a real callbackTimeout would run out: the fallback
    # can only be used because the timeout was moved past once the request was held.
    held = Hold(limit=CALLBACK_TIMEOUT / 2)

    def hold_past_the_timeout(_: Received) -> Hold:
        timeouts.forward(CALLBACK_TIMEOUT)
        return held

    other_app.on("/answer", hold_past_the_timeout)
    app.on("/fallback", Response([Hangup()]).to_bxml())
    call_id = create_call(
        calls_api,
        app,
        ANSWERS,
        answer=other_app.url("/answer"),
        answer_fallback_url=app.url("/fallback"),
        callback_timeout=CALLBACK_TIMEOUT,
    )
    try:
        vserver.advance(30)
    finally:
        held.release.set()

    assert len(app.requests("/fallback")) == 1
    disconnect = one_disconnect(app)
    assert disconnect["cause"] == "hangup"
    assert disconnect["endTime"] == disconnect["answerTime"]
    webhooks = entries(timeline(switchboard, call_id), "webhook", eventType="answer")
    assert [(w["url"], w["status"], w["error"]) for w in webhooks] == [
        (
            other_app.url("/answer"),
            None,
            f"{other_app.url('/answer')}: no response within 10.0 s (callbackTimeout)",
        ),
        (app.url("/fallback"), 200, None),
    ]


def test_both_answer_urls_failing_is_a_callback_error_naming_both(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    app.on("/answer", (500, "boom"))
    app.on("/fallback", (502, "bad gateway"))
    create_call(calls_api, app, ANSWERS, answer_fallback_url=app.url("/fallback"))
    vserver.advance(30)

    disconnect = one_disconnect(app)
    assert disconnect["cause"] == "callback-error"
    assert f"{app.url('/answer')} answered HTTP 500" in disconnect["errorMessage"]
    assert f"{app.url('/fallback')} answered HTTP 502" in disconnect["errorMessage"]


def test_a_call_without_disconnect_url_still_ends(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    app.on("/answer", Response([Hangup()]).to_bxml())
    call_id = create_call(calls_api, app, ANSWERS, disconnect=None)
    vserver.advance(30)

    assert app.events("disconnect") == []
    assert [e["state"] for e in entries(timeline(switchboard, call_id), "state")][-1] == (
        "disconnected"
    )
