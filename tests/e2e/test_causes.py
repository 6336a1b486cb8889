"""Every disconnect cause a call can reach today, as the user's disconnectUrl hears it: exactly
one disconnect event, the documented fields, and times that follow the virtual clock."""

from __future__ import annotations

import socket
import uuid

import httpx
import pytest
from bandwidth.api.calls_api import CallsApi
from bandwidth.models.bxml import (
    Bxml,
    Conference,
    Gather,
    Hangup,
    Pause,
    PlayAudio,
    Redirect,
    Response,
    SpeakSentence,
    Verb,
)

from tests.e2e.flow import (
    at,
    callee,
    check_event,
    create_call,
    entries,
    now,
    one_disconnect,
    since,
    timeline,
)
from tests.e2e.phones import ANSWERS, BUSY, FAILS, HANGS_UP, NO_ANSWER
from tests.support.callback_timeouts import callback_timeouts
from tests.support.receiver import Hold, Raw, Received, Receiver
from tests.support.server import VirtualTimeServer

REJECTS = "+15555550102"
# Far longer than any stall of a loaded machine: tests move the server's clock past it.
CALLBACK_TIMEOUT = 10.0


def assert_uuid(value: str) -> None:
    assert str(uuid.UUID(value)) == value


def closed_port_url(path: str) -> str:
    """A URL on 127.0.0.1 where nothing listens: connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


# -- hangup -----------------------------------------------------------------------------------


def test_end_of_bxml_hangs_up_when_the_last_verb_finishes(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    app.on("/answer", Response([SpeakSentence("Your order has shipped")]).to_bxml())  # 4 words
    created = now(vserver)
    call_id = create_call(calls_api, app, ANSWERS)
    vserver.advance(30)

    disconnect = check_event(
        one_disconnect(app), "disconnect", call_id, ANSWERS, optional={"answerTime"}
    )
    assert disconnect["cause"] == "hangup"
    assert since(created, disconnect["enqueuedTime"]) == 0
    assert since(created, disconnect["startTime"]) == 0
    assert since(created, disconnect["answerTime"]) == 2.0
    assert since(created, disconnect["endTime"]) == 2.0 + 1.6  # 4 words at 150 wpm
    assert disconnect["eventTime"] == disconnect["endTime"]
    states = [entry["state"] for entry in entries(timeline(switchboard, call_id), "state")]
    assert states == ["initiated", "answered", "disconnected"]


def test_hangup_verb_ends_the_call_and_skips_what_follows(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    app.on("/answer", Response([Pause(2), Hangup(), SpeakSentence("Never spoken")]).to_bxml())
    call_id = create_call(calls_api, app, ANSWERS)
    vserver.advance(30)

    disconnect = one_disconnect(app)
    assert disconnect["cause"] == "hangup"
    assert "errorMessage" not in disconnect and "errorId" not in disconnect
    assert since(at(disconnect["answerTime"]), disconnect["endTime"]) == 2.0
    verbs = [entry["verb"] for entry in entries(timeline(switchboard, call_id), "verb")]
    assert "SpeakSentence" not in verbs


def test_empty_response_hangs_up_at_once(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    app.on("/answer", Response().to_bxml())
    call_id = create_call(calls_api, app, ANSWERS)
    vserver.advance(30)

    disconnect = check_event(
        one_disconnect(app), "disconnect", call_id, ANSWERS, optional={"answerTime"}
    )
    assert disconnect["cause"] == "hangup"
    assert disconnect["endTime"] == disconnect["answerTime"]


def test_callee_hangs_up_after_its_configured_seconds(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    app.on("/answer", Response([Pause(60)]).to_bxml())
    created = now(vserver)
    call_id = create_call(calls_api, app, HANGS_UP)
    vserver.advance(30)

    disconnect = one_disconnect(app)
    assert disconnect["cause"] == "hangup"
    assert since(created, disconnect["answerTime"]) == 1.0
    assert since(created, disconnect["endTime"]) == 6.0
    network = [entry["event"] for entry in entries(timeline(switchboard, call_id), "network")]
    assert network == ["ringing", "answered", "hangup"]


def test_callee_hangs_up_through_the_control_api(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    app.on("/answer", Response([Pause(60)]).to_bxml())
    created = now(vserver)
    call_id = create_call(calls_api, app, ANSWERS)
    vserver.advance(7)
    assert app.events("disconnect") == []

    assert callee(switchboard, call_id, "hangup").status_code == 204
    vserver.advance(1)

    disconnect = one_disconnect(app)
    assert disconnect["cause"] == "hangup"
    assert since(created, disconnect["endTime"]) == 7.0


# -- the callee never gets to talk ------------------------------------------------------------


@pytest.mark.parametrize(("to", "cause"), [(BUSY, "busy"), (REJECTS, "rejected")])
def test_callee_refuses_the_call(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, to: str, cause: str
) -> None:
    created = now(vserver)
    call_id = create_call(calls_api, app, to, tag="campaign-7")
    vserver.advance(30)

    assert app.requests("/answer") == []
    event = one_disconnect(app)
    optional = {"tag", "sipResponseCode"}
    if cause == "busy":
        optional |= {"errorMessage", "errorId"}
    disconnect = check_event(event, "disconnect", call_id, to, optional=optional)
    assert disconnect["cause"] == cause
    # The SIP code a real callee would have refused the INVITE with (busy 486, decline 603).
    assert disconnect["sipResponseCode"] == (486 if cause == "busy" else 603)
    assert disconnect["tag"] == "campaign-7"
    assert since(created, disconnect["startTime"]) == 0
    assert since(created, disconnect["endTime"]) == 2.0
    if cause == "busy":  # as disconnect.mdx's example shows it
        assert disconnect["errorMessage"] == "Callee is busy"
        assert_uuid(disconnect["errorId"])


@pytest.mark.parametrize(("call_timeout", "seconds"), [(3.5, 3.5), (None, 30.0)])
def test_unanswered_call_times_out_after_call_timeout(
    vserver: VirtualTimeServer,
    app: Receiver,
    calls_api: CallsApi,
    switchboard: httpx.Client,
    call_timeout: float | None,
    seconds: float,
) -> None:
    created = now(vserver)
    extra = {"call_timeout": call_timeout} if call_timeout else {}
    call_id = create_call(calls_api, app, NO_ANSWER, **extra)
    vserver.advance(seconds - 0.1)
    assert app.events("disconnect") == []
    vserver.advance(0.1)

    disconnect = check_event(one_disconnect(app), "disconnect", call_id, NO_ANSWER)
    assert disconnect["cause"] == "timeout"
    assert since(created, disconnect["endTime"]) == seconds
    assert app.requests("/answer") == []
    assert entries(timeline(switchboard, call_id), "network", event="no-answer")


def test_network_failure_is_an_error_with_message_and_id(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    call_id = create_call(calls_api, app, FAILS)
    vserver.advance(30)

    disconnect = check_event(
        one_disconnect(app),
        "disconnect",
        call_id,
        FAILS,
        optional={"errorMessage", "errorId", "sipResponseCode"},
    )
    assert disconnect["cause"] == "error"
    assert disconnect["sipResponseCode"] == 503  # the simulated network's failure
    assert "could not be placed" in disconnect["errorMessage"]
    assert_uuid(disconnect["errorId"])
    (error,) = entries(timeline(switchboard, call_id), "error")
    assert error["message"] == disconnect["errorMessage"]


# -- callback-error ---------------------------------------------------------------------------


@pytest.mark.parametrize("answer", ["refused", 500, 404])
def test_answer_url_that_cannot_answer_is_a_callback_error(
    vserver: VirtualTimeServer,
    app: Receiver,
    calls_api: CallsApi,
    switchboard: httpx.Client,
    answer: str | int,
) -> None:
    if answer == "refused":
        answer_url = closed_port_url("/answer")
        expected = f"{answer_url}: connection refused"
    else:
        answer_url = app.url("/answer")
        app.on("/answer", (int(answer), "no BXML here"))
        expected = f"{answer_url} answered HTTP {answer}"
    created = now(vserver)
    call_id = create_call(calls_api, app, ANSWERS, answer=answer_url, tag="t")
    vserver.advance(30)

    disconnect = check_event(
        one_disconnect(app),
        "disconnect",
        call_id,
        ANSWERS,
        optional={"answerTime", "tag", "errorMessage", "errorId"},
    )
    assert disconnect["cause"] == "callback-error"
    assert expected in disconnect["errorMessage"]
    assert "answer callback" in disconnect["errorMessage"]
    assert_uuid(disconnect["errorId"])
    assert since(created, disconnect["endTime"]) == 2.0  # the webhook took no call time
    items = timeline(switchboard, call_id)
    (webhook,) = entries(items, "webhook", eventType="answer")
    assert webhook["url"] == answer_url
    assert webhook["status"] == (None if answer == "refused" else answer)
    assert entries(items, "error", cause="callback-error")


def test_answer_url_slower_than_callback_timeout_is_a_callback_error(
    vserver: VirtualTimeServer,
    app: Receiver,
    other_app: Receiver,
    calls_api: CallsApi,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    timeouts = callback_timeouts(vserver, monkeypatch)
    # Answers (with no BXML) well before a real callbackTimeout would run out: the callback
    # error can only come from the timeout moved past once the request is held.
    held = Hold(limit=CALLBACK_TIMEOUT / 2)

    def hold_past_the_timeout(_: Received) -> Hold:
        timeouts.forward(CALLBACK_TIMEOUT)
        return held

    other_app.on("/answer", hold_past_the_timeout)
    call_id = create_call(
        calls_api, app, ANSWERS, answer=other_app.url("/answer"), callback_timeout=CALLBACK_TIMEOUT
    )
    try:
        vserver.advance(30)
    finally:
        held.release.set()

    disconnect = one_disconnect(app)
    assert disconnect["callId"] == call_id
    assert disconnect["cause"] == "callback-error"
    assert f"{other_app.url('/answer')}: no response within 10.0 s" in disconnect["errorMessage"]


def test_redirect_url_answering_500_is_a_callback_error(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    app.on("/answer", Response([Pause(3), Redirect(redirect_url="/next")]).to_bxml())
    app.on("/next", (500, "oops"))
    created = now(vserver)
    create_call(calls_api, app, ANSWERS)
    vserver.advance(30)

    disconnect = one_disconnect(app)
    assert disconnect["cause"] == "callback-error"
    assert f"{app.url('/next')} answered HTTP 500" in disconnect["errorMessage"]
    assert since(created, disconnect["endTime"]) == 5.0


# -- invalid-bxml -----------------------------------------------------------------------------

GOOD = Response([SpeakSentence("Hello"), Hangup()]).to_bxml()
BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<Response><SpeakSentence>&lol4;</SpeakSentence></Response>"""
INVALID = {
    # The SDK's output cut short, as a crashed template would send it.
    "malformed": (GOOD[: GOOD.index("</SpeakSentence>")], "line 2"),
    "unknown verb": (
        Response([Verb(tag="SpeakSentense", content="Hello")]).to_bxml(),
        "<SpeakSentense> is not a BXML verb (did you mean <SpeakSentence>?)",
    ),
    "bad attribute value": (
        Response([Gather(gather_url="/gather", max_digits=99)]).to_bxml(),
        "<Gather> attribute maxDigits must be an integer from 1 to 50, got '99'",
    ),
    "xml bomb": (BOMB, "DOCTYPE declarations are not allowed"),
    "wrong root": (Bxml([SpeakSentence("Hello")]).to_bxml(), "the root element must be <Response>"),
}


@pytest.mark.parametrize("case", INVALID)
def test_invalid_bxml_from_the_answer_url(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, case: str
) -> None:
    document, reason = INVALID[case]
    app.on("/answer", document)
    call_id = create_call(calls_api, app, ANSWERS)
    vserver.advance(30)

    disconnect = check_event(
        one_disconnect(app),
        "disconnect",
        call_id,
        ANSWERS,
        optional={"answerTime", "errorMessage", "errorId"},
    )
    assert disconnect["cause"] == "invalid-bxml"
    message = disconnect["errorMessage"]
    assert app.url("/answer") in message
    assert reason in message
    assert "line " in message
    assert_uuid(disconnect["errorId"])
    assert disconnect["endTime"] == disconnect["answerTime"]


def test_invalid_bxml_from_a_gather_url_ends_the_call_there(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    app.on(
        "/answer",
        Response([Gather(gather_url="/gather", max_digits=1, first_digit_timeout=2)]).to_bxml(),
    )
    app.on("/gather", Response([Pause(duration="soon")]).to_bxml())  # type: ignore[arg-type]
    call_id = create_call(calls_api, app, ANSWERS)
    vserver.advance(30)

    assert len(app.events("gather")) == 1
    disconnect = one_disconnect(app)
    assert disconnect["cause"] == "invalid-bxml"
    assert app.url("/gather") in disconnect["errorMessage"]
    assert "line 2" in disconnect["errorMessage"]
    assert "<Pause> attribute duration must be a number" in disconnect["errorMessage"]
    assert since(at(disconnect["answerTime"]), disconnect["endTime"]) == 2.0
    assert entries(timeline(switchboard, call_id), "error", cause="invalid-bxml")


# -- application-error ------------------------------------------------------------------------


def test_verb_switchboard_cannot_run_yet_is_an_application_error(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    conference = Conference(name="team-room")
    app.on("/answer", Response([SpeakSentence("Transferring you now"), conference]).to_bxml())
    call_id = create_call(calls_api, app, ANSWERS)
    vserver.advance(30)

    disconnect = check_event(
        one_disconnect(app),
        "disconnect",
        call_id,
        ANSWERS,
        optional={"answerTime", "errorMessage", "errorId"},
    )
    assert disconnect["cause"] == "application-error"
    assert "<Conference>" in disconnect["errorMessage"]
    assert_uuid(disconnect["errorId"])
    assert since(at(disconnect["answerTime"]), disconnect["endTime"]) == 1.2  # 3 words


@pytest.mark.parametrize(
    ("path", "body", "content_type"),
    [
        ("/prompt.ogg", b"OggS\x00\x02" + bytes(200), "audio/ogg"),
        ("/page.html", b"<html><body>Not audio</body></html>", "text/html"),
    ],
)
def test_audio_switchboard_cannot_play_is_an_application_error(
    vserver: VirtualTimeServer,
    app: Receiver,
    calls_api: CallsApi,
    path: str,
    body: bytes,
    content_type: str,
) -> None:
    app.on(path, Raw(body, content_type))
    app.on("/answer", Response([PlayAudio(path), SpeakSentence("Never spoken")]).to_bxml())
    create_call(calls_api, app, ANSWERS)
    vserver.advance(30)

    disconnect = one_disconnect(app)
    assert disconnect["cause"] == "application-error"
    assert app.url(path) in disconnect["errorMessage"]
    assert "unsupported audio format" in disconnect["errorMessage"]
    assert_uuid(disconnect["errorId"])
    assert disconnect["endTime"] == disconnect["answerTime"]


# -- races and odd answers --------------------------------------------------------------------


def test_callee_hanging_up_while_the_answer_webhook_is_out_ends_the_call_once(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    def hang_up_then_answer(request: Received) -> str:
        # The app is still thinking when the callee hangs up.
        assert callee(switchboard, request.event["callId"], "hangup").status_code == 204
        return Response([SpeakSentence("Too late"), Redirect("/never")]).to_bxml()

    app.on("/answer", hang_up_then_answer)
    call_id = create_call(calls_api, app, ANSWERS)
    vserver.advance(30)

    disconnect = one_disconnect(app)
    assert disconnect["cause"] == "hangup"
    assert disconnect["endTime"] == disconnect["answerTime"]
    assert app.requests("/never") == []
    assert entries(timeline(switchboard, call_id), "verb") == []


def test_empty_answer_body_hangs_up(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    app.on("/answer", (200, ""))
    create_call(calls_api, app, ANSWERS)
    vserver.advance(30)

    disconnect = one_disconnect(app)
    assert disconnect["cause"] == "hangup"
    assert "errorMessage" not in disconnect


def test_disconnect_url_refusing_connections_is_tried_twice_and_the_call_still_ends(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    app.on("/answer", Response([Hangup()]).to_bxml())
    disconnect_url = closed_port_url("/disconnect")
    call_id = create_call(calls_api, app, ANSWERS, disconnect=disconnect_url)
    vserver.advance(30)

    # webhooks/about.mdx: asynchronous callbacks are retried once on a connection error.
    attempts = entries(timeline(switchboard, call_id), "webhook", eventType="disconnect")
    assert [(a["url"], a["status"]) for a in attempts] == [(disconnect_url, None)] * 2
    assert all("connection refused" in a["error"] for a in attempts)
