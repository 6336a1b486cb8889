"""Calls to Switchboard over SIP, with sipp as the caller: the application the number belongs
to gets `initiate` (with the INVITE's uui and Diversion), its IVR runs on the real call (the
caller's RFC 4733 digits reach the Gather), and the caller who gives up, the number that rings
nothing and the source that may not call get the SIP answers docs/sip.md promises.

Time is real (SIP peers cannot run on a virtual clock): every wait is bounded and waits for an
event; sipp's own pauses only space its key presses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bandwidth.api.calls_api import CallsApi
from bandwidth.models.bxml import Gather, Hangup, Response, Ring, SpeakSentence

from tests.e2e.control import calls_api_for
from tests.e2e.flow import entries, timeline
from tests.e2e_sip.inbound import (
    CALLER,
    OUR_NUMBER,
    dial_with_sipp,
    inbound_config,
    received_response,
    sip_port,
    sipp_messages,
)
from tests.support.receiver import Received, Receiver
from tests.support.server import (
    ACCOUNT_ID,
    APPLICATION_ID,
    PASSWORD,
    USERNAME,
    RunningServer,
    start_server,
)
from tests.support.sipp import start_sipp


@pytest.fixture(scope="module")
def ivr_app() -> Iterator[Receiver]:
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, ivr_app: Receiver) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("inbound"), inbound_config(ivr_app))
    yield running
    running.stop()


@pytest.fixture
def app(ivr_app: Receiver) -> Receiver:
    """The application, with nothing received yet and no routes from an earlier test."""
    with ivr_app._lock:
        ivr_app.received.clear()
    ivr_app.routes.clear()
    return ivr_app


@pytest.fixture
def calls_api(server: RunningServer) -> Iterator[CallsApi]:
    with calls_api_for(server, USERNAME, PASSWORD) as api:
        yield api


@pytest.fixture
def switchboard(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, auth=(USERNAME, PASSWORD)) as client:
        yield client


def code_menu() -> str:
    prompt = SpeakSentence("Enter your code, then press pound.")
    gather = Gather(
        gather_url="/menu",
        terminating_digits="#",
        max_digits=5,
        first_digit_timeout=10,
        audio_verbs=[prompt],
    )
    return Response([gather, SpeakSentence("We heard nothing."), Hangup()]).to_bxml()


def code_checked(request: Received) -> str:
    if request.event.get("digits") == "42":
        return Response([SpeakSentence("Code accepted."), Hangup()]).to_bxml()
    return Response([SpeakSentence("Wrong code."), Hangup()]).to_bxml()


def test_an_inbound_ivr_over_sip(
    server: RunningServer,
    app: Receiver,
    calls_api: CallsApi,
    switchboard: httpx.Client,
    tmp_path: Path,
) -> None:
    app.on("/initiate", code_menu())
    app.on("/menu", code_checked)
    app.on("/status", "")
    # The Request-URI's user without "+": still the account's E.164 number.
    caller = dial_with_sipp("uac_ivr_dtmf.xml", tmp_path, sip_port(server), OUR_NUMBER[1:])
    try:
        (initiate,) = app.wait_events("initiate")
        (gather,) = app.wait_events("gather", timeout=30)
        (disconnect,) = app.wait_events("disconnect", timeout=30)
        assert caller.wait() == 0, caller.errors()  # it got 180, 200 and our BYE
    finally:
        caller.stop()

    call_id = initiate["callId"]
    assert initiate["eventType"] == "initiate" and initiate["direction"] == "inbound"
    assert (initiate["from"], initiate["to"]) == (CALLER, OUR_NUMBER)
    assert (initiate["accountId"], initiate["applicationId"]) == (ACCOUNT_ID, APPLICATION_ID)
    assert initiate["uui"] == "aGVsbG8gd29ybGQ;encoding=base64"
    assert initiate["diversion"] == {
        "origTo": "+15558884444",
        "reason": "unavailable",
        "privacy": "off",
        "counter": "1",
    }
    assert next(iter(initiate["diversion"])) == "origTo"
    sip_call_id = initiate["sipCallId"]
    assert sip_call_id and disconnect["sipCallId"] == sip_call_id

    assert (gather["digits"], gather["terminatingDigit"]) == ("42", "#")
    assert gather["callId"] == call_id and gather["direction"] == "inbound"
    assert disconnect["cause"] == "hangup" and disconnect["callId"] == call_id
    assert [r.path for r in app.received] == ["/initiate", "/menu", "/status"]

    state = calls_api.get_call_state(ACCOUNT_ID, call_id)
    assert (state.direction, state.state) == ("inbound", "disconnected")
    assert (state.var_from, state.to) == (CALLER, OUR_NUMBER)
    assert state.answer_time is not None
    items = timeline(switchboard, call_id)
    assert [i["state"] for i in items if i["kind"] == "state"] == [
        "initiated",
        "answered",
        "disconnected",
    ]
    assert [i["digit"] for i in items if i["kind"] == "dtmf"] == ["4", "2", "#"]
    spoken = [
        item["text"]
        for item in entries(items, "verb", event="started")
        if item["verb"] == "SpeakSentence"
    ]
    assert spoken == ["Enter your code, then press pound.", "Code accepted."]


def test_a_caller_who_cancels_while_it_rings_ends_the_call_with_cause_cancel(
    server: RunningServer,
    app: Receiver,
    calls_api: CallsApi,
    switchboard: httpx.Client,
    tmp_path: Path,
) -> None:
    """<Ring answerCall="false"> lets the caller hear ringback before any answer (183 with our
    SDP); the caller hangs up then (CANCEL): 200, 487, and the app's disconnect says cancel."""
    app.on("/initiate", Response([Ring(duration=30, answer_call=False), Hangup()]).to_bxml())
    app.on("/status", "")
    caller = dial_with_sipp("uac_cancel_ringing.xml", tmp_path, sip_port(server), OUR_NUMBER)
    try:
        (disconnect,) = app.wait_events("disconnect", timeout=30)
        assert caller.wait() == 0, caller.errors()  # 180, 183, then 200 and 487 to its CANCEL
    finally:
        caller.stop()

    (initiate,) = app.events("initiate")
    assert disconnect["callId"] == initiate["callId"]
    assert disconnect["cause"] == "cancel" and disconnect["direction"] == "inbound"
    assert "answerTime" not in disconnect
    state = calls_api.get_call_state(ACCOUNT_ID, initiate["callId"])
    assert state.answer_time is None and state.disconnect_cause == "cancel"
    items = timeline(switchboard, initiate["callId"])
    assert [i["state"] for i in items if i["kind"] == "state"] == ["initiated", "disconnected"]
    assert entries(items, "verb", verb="Ring", event="started")
    early = received_response(caller, 183)
    assert "Content-Type: application/sdp" in early and "telephone-event" in early


@pytest.mark.parametrize(
    ("number", "why"),
    [
        ("+15550009999", "+15550009999 is not a number of any account"),
        ("+15555551213", "+15555551213 rings no application"),
    ],
)
def test_a_number_that_rings_nothing_is_refused_with_404(
    server: RunningServer,
    app: Receiver,
    calls_api: CallsApi,
    tmp_path: Path,
    number: str,
    why: str,
) -> None:
    caller = dial_with_sipp("uac_refused_404.xml", tmp_path, sip_port(server), number)
    try:
        assert caller.wait() == 0, caller.errors()  # 404, which it ACKed
    finally:
        caller.stop()
    refusal = received_response(caller, 404)
    warning = next(line for line in refusal.splitlines() if line.startswith("Warning:"))
    assert why in warning, refusal
    assert app.received == []  # no application heard of it
    assert calls_api.list_calls(ACCOUNT_ID, to=number) == []  # and no account has the call


def test_a_source_the_config_does_not_allow_is_refused_with_403(
    tmp_path: Path, ivr_app: Receiver
) -> None:
    app = ivr_app
    with app._lock:
        app.received.clear()
    config = inbound_config(app, inbound_sources=["192.0.2.0/24"])  # not 127.0.0.1
    guarded = start_server(tmp_path, config)
    try:
        caller = dial_with_sipp("uac_refused_403.xml", tmp_path, sip_port(guarded), OUR_NUMBER)
        try:
            assert caller.wait() == 0, caller.errors()
        finally:
            caller.stop()
    finally:
        guarded.stop()
    refusal = received_response(caller, 403)
    assert "calls from 127.0.0.1 are not accepted" in refusal
    assert "SIP/2.0 100" not in sipp_messages(caller)  # refused before anything else
    assert app.received == []


def test_a_caller_with_the_digest_credentials_gets_through(
    tmp_path: Path, ivr_app: Receiver
) -> None:
    app = ivr_app
    with app._lock:
        app.received.clear()
    app.routes.clear()
    app.on("/initiate", Response([SpeakSentence("Welcome back."), Hangup()]).to_bxml())
    config = inbound_config(app, inbound_username="pbx", inbound_password="pbx-secret")
    guarded = start_server(tmp_path, config)
    try:
        caller = dial_with_sipp(
            "uac_digest.xml",
            tmp_path,
            sip_port(guarded),
            OUR_NUMBER,
            extra=["-au", "pbx", "-ap", "pbx-secret"],
        )
        try:
            (disconnect,) = app.wait_events("disconnect", timeout=30)
            assert caller.wait() == 0, caller.errors()  # 401, then 180, 200 and our BYE
        finally:
            caller.stop()
    finally:
        guarded.stop()
    assert disconnect["cause"] == "hangup"
    challenge = received_response(caller, 401)
    assert 'WWW-Authenticate: Digest realm="switchboard"' in challenge
    assert "qop=" in challenge


def test_a_transfer_of_a_diverted_inbound_call_stacks_the_diversion_on_the_new_invite(
    server: RunningServer, app: Receiver, tmp_path: Path
) -> None:
    """transfer.mdx's diversionTreatment="stack": the Diversion the call came with (sipp's
    uac_ivr_dtmf.xml sends one) is copied to the target's INVITE, with one for the number that
    was called on top, carrying diversionReason."""
    target_dir = tmp_path / "target"
    target_dir.mkdir()
    target = start_sipp("uas_busy.xml", target_dir, extra=["-trace_msg"])
    transfer = (
        '<Response><Transfer diversionTreatment="stack" diversionReason="user-busy">'
        f"<SipUri>{target.uri()}</SipUri></Transfer><Hangup/></Response>"
    )
    app.on("/initiate", transfer)
    app.on("/status", "")
    caller = dial_with_sipp("uac_ivr_dtmf.xml", tmp_path, sip_port(server), OUR_NUMBER[1:])
    try:
        app.wait_events("disconnect", timeout=30)
        assert target.wait() == 0, target.errors()  # it got the INVITE and said busy
    finally:
        caller.stop()
        target.stop()
    log = "".join(p.read_text(errors="replace") for p in target.workdir.glob("*_messages.log"))
    invite = log[log.index("INVITE sip:") :]
    invite = invite[: invite.index("\n\n")]
    diversion = next(line for line in invite.splitlines() if line.startswith("Diversion:"))
    assert diversion == (
        f"Diversion: <tel:{OUR_NUMBER}>;reason=user-busy;counter=1, "
        "<tel:+15558884444>;reason=unavailable;privacy=off;counter=1"
    )
