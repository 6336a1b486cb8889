"""Create Call on the SIP network against sipp callees: what the application sees in its
webhooks for an answered call that gathers digits, a busy callee, a declined call, a callee
that rings until callTimeout, and a callee that hangs up. sipp's exit status 0 says that our
side of the SIP exchange (ACK, CANCEL, BYE) was what its scenario expects."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bandwidth.api.calls_api import CallsApi
from bandwidth.models.bxml import Gather, Hangup, Pause, Response
from bandwidth.models.update_call import UpdateCall

from tests.e2e.flow import check_event, create_call
from tests.e2e_sip.timeline import wait_for_timeline
from tests.support.receiver import Receiver
from tests.support.server import ACCOUNT_ID
from tests.support.sipp import SippProcess, start_sipp


@pytest.fixture
def sipp_factory(tmp_path: Path) -> Iterator[list[SippProcess]]:
    started: list[SippProcess] = []
    yield started
    for process in started:
        process.stop()


def callee(scenario: str, tmp_path: Path, started: list[SippProcess]) -> SippProcess:
    process = start_sipp(scenario, tmp_path)
    started.append(process)
    return process


def test_gather_collects_the_digits_sipp_sends(
    app: Receiver, calls_api: CallsApi, tmp_path: Path, sipp_factory: list[SippProcess]
) -> None:
    sipp = callee("uas_answer_dtmf.xml", tmp_path, sipp_factory)  # RFC 4733 "1", "2", "#"
    gather = Gather(
        gather_url="/gather", terminating_digits="#", max_digits=5, first_digit_timeout=20
    )
    app.on("/answer", Response([gather]).to_bxml())
    app.on("/gather", Response([Hangup()]).to_bxml())
    to = sipp.uri()
    call_id = create_call(calls_api, app, to, tag="sip")

    (answer,) = app.wait_events("answer")
    (gathered,) = app.wait_events("gather", timeout=30)
    (disconnect,) = app.wait_events("disconnect")

    check_event(answer, "answer", call_id, to, optional={"tag", "sipCallId"})
    assert (gathered["digits"], gathered["terminatingDigit"]) == ("12", "#")
    check_event(disconnect, "disconnect", call_id, to, optional={"tag", "sipCallId", "answerTime"})
    assert disconnect["cause"] == "hangup"
    assert answer["sipCallId"] == disconnect["sipCallId"] != ""
    assert sipp.wait() == 0, sipp.errors()  # it got our BYE and answered it


@pytest.mark.parametrize(
    ("scenario", "cause", "code"),
    [
        ("uas_busy.xml", "busy", 486),
        ("uas_decline.xml", "rejected", 603),
        ("uas_unavailable.xml", "timeout", 480),
        ("uas_not_found.xml", "error", 404),
    ],
)
def test_callee_refuses_with_a_sip_code(
    app: Receiver,
    calls_api: CallsApi,
    tmp_path: Path,
    sipp_factory: list[SippProcess],
    scenario: str,
    cause: str,
    code: int,
) -> None:
    sipp = callee(scenario, tmp_path, sipp_factory)
    to = sipp.uri()
    call_id = create_call(calls_api, app, to)

    (disconnect,) = app.wait_events("disconnect")
    optional = {"sipCallId", "sipResponseCode"}
    if cause in ("busy", "error"):  # disconnect.mdx's busy example carries a message and id
        optional |= {"errorMessage", "errorId"}
    check_event(disconnect, "disconnect", call_id, to, optional=optional)
    assert (disconnect["cause"], disconnect["sipResponseCode"]) == (cause, code)
    assert disconnect["sipCallId"]
    if cause == "error":
        assert "404 Not Found" in disconnect["errorMessage"]
    assert app.events("answer") == []
    assert sipp.wait() == 0, sipp.errors()  # it got the ACK of its final answer


def test_call_timeout_cancels_a_ringing_callee(
    app: Receiver, calls_api: CallsApi, tmp_path: Path, sipp_factory: list[SippProcess]
) -> None:
    sipp = callee("uas_ring_noanswer.xml", tmp_path, sipp_factory)
    to = sipp.uri()
    call_id = create_call(calls_api, app, to, call_timeout=2)

    (disconnect,) = app.wait_events("disconnect")
    check_event(disconnect, "disconnect", call_id, to, optional={"sipCallId"})
    assert disconnect["cause"] == "timeout"
    # CANCEL → 200 → 487 → our ACK: the scenario only completes when all of it happened.
    assert sipp.wait() == 0, sipp.errors()


def test_callee_hangs_up(
    app: Receiver, calls_api: CallsApi, tmp_path: Path, sipp_factory: list[SippProcess]
) -> None:
    sipp = callee("uas_answer_then_bye.xml", tmp_path, sipp_factory)
    app.on("/answer", Response([Pause(duration=60)]).to_bxml())
    to = sipp.uri()
    create_call(calls_api, app, to)

    (disconnect,) = app.wait_events("disconnect", timeout=30)
    assert disconnect["cause"] == "hangup"
    assert disconnect["sipCallId"]
    assert sipp.wait() == 0, sipp.errors()  # its BYE was answered 200


def test_update_call_completed_cancels_before_answer(
    app: Receiver,
    calls_api: CallsApi,
    switchboard: httpx.Client,
    tmp_path: Path,
    sipp_factory: list[SippProcess],
) -> None:
    sipp = callee("uas_ring_noanswer.xml", tmp_path, sipp_factory)
    to = sipp.uri()
    call_id = create_call(calls_api, app, to, call_timeout=30)
    wait_for_timeline(switchboard, call_id, "network", event="ringing")
    calls_api.update_call(ACCOUNT_ID, call_id, UpdateCall(state="completed"))

    (disconnect,) = app.wait_events("disconnect")
    assert disconnect["cause"] == "cancel"
    assert sipp.wait() == 0, sipp.errors()  # CANCEL, 487, ACK


def invite_sent_to(sipp: SippProcess) -> str:
    """The INVITE as sipp received it (its -trace_msg log)."""
    log = "".join(p.read_text(errors="replace") for p in sipp.workdir.glob("*_messages.log"))
    start = log.index("INVITE sip:")
    return log[start : log.index("\n\n", start)]


def test_display_name_and_uui_go_in_the_invite(
    app: Receiver, calls_api: CallsApi, tmp_path: Path, sipp_factory: list[SippProcess]
) -> None:
    sipp = start_sipp("uas_busy.xml", tmp_path, extra=["-trace_msg"])
    sipp_factory.append(sipp)
    create_call(
        calls_api,
        app,
        sipp.uri(),
        display_name="Acme Support",
        uui="bXktdXVp;encoding=base64",
    )
    app.wait_events("disconnect")
    assert sipp.wait() == 0, sipp.errors()

    invite = invite_sent_to(sipp)
    assert 'From: "Acme Support" <sip:+15555551212@' in invite
    assert "User-to-User: bXktdXVp;encoding=base64" in invite


def test_privacy_hides_the_caller(
    app: Receiver, calls_api: CallsApi, tmp_path: Path, sipp_factory: list[SippProcess]
) -> None:
    sipp = start_sipp("uas_busy.xml", tmp_path, extra=["-trace_msg"])
    sipp_factory.append(sipp)
    create_call(calls_api, app, sipp.uri(), privacy=True)
    app.wait_events("disconnect")
    assert sipp.wait() == 0, sipp.errors()

    invite = invite_sent_to(sipp)
    from_line = next(line for line in invite.splitlines() if line.startswith("From:"))
    assert "anonymous" in from_line.lower() and "+15555551212" not in from_line
    assert "Privacy: id" in invite
    assert "P-Asserted-Identity:" in invite and "+15555551212" in invite


def test_an_answer_with_media_we_cannot_reach_ends_the_call_with_an_error(
    app: Receiver, calls_api: CallsApi, tmp_path: Path, sipp_factory: list[SippProcess]
) -> None:
    sipp = callee("uas_answer_unusable_media.xml", tmp_path, sipp_factory)
    to = sipp.uri()
    create_call(calls_api, app, to)

    (disconnect,) = app.wait_events("disconnect")
    assert disconnect["cause"] == "error"
    assert "media we cannot use" in disconnect["errorMessage"]
    assert "IPv6" in disconnect["errorMessage"]
    assert app.events("answer") == []
    assert sipp.wait() == 0, sipp.errors()  # it got our ACK, then our BYE
