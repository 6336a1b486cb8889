"""Switchboard's simulator control API: acting as the callee of a live call, changing phones at
runtime, and its errors in Bandwidth's shape; and `to` as a SIP URI."""

from __future__ import annotations

import httpx
import pytest
from bandwidth.api.calls_api import CallsApi
from bandwidth.models.bxml import Gather, Hangup, Pause, Response, StartGather

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
from tests.e2e.phones import ANSWERS, BUSY, NO_ANSWER, PRESSES_1234
from tests.support.http import assert_error
from tests.support.receiver import Receiver
from tests.support.server import (
    ACCOUNT_ID,
    OTHER_ACCOUNT_ID,
    OTHER_PASSWORD,
    OTHER_USERNAME,
    VirtualTimeServer,
)

# -- acting as the callee ---------------------------------------------------------------------


def test_answer_a_ringing_call_by_hand(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    app.on("/answer", Response([Pause(2)]).to_bxml())
    created = now(vserver)
    call_id = create_call(calls_api, app, NO_ANSWER)
    vserver.advance(5)
    assert app.events() == []

    assert callee(switchboard, call_id, "answer").status_code == 204
    vserver.advance(1)
    again = callee(switchboard, call_id, "answer")
    assert again.status_code == 409
    assert again.json()["description"] == f"Call {call_id} is already answered"
    vserver.advance(29)

    (answer,) = app.events("answer")
    check_event(answer, "answer", call_id, NO_ANSWER)
    assert since(created, answer["answerTime"]) == 5.0
    disconnect = one_disconnect(app)
    assert disconnect["cause"] == "hangup"
    assert since(created, disconnect["endTime"]) == 7.0


@pytest.mark.parametrize(("action", "cause"), [("reject", "rejected"), ("busy", "busy")])
def test_refuse_a_ringing_call_by_hand(
    vserver: VirtualTimeServer,
    app: Receiver,
    calls_api: CallsApi,
    switchboard: httpx.Client,
    action: str,
    cause: str,
) -> None:
    created = now(vserver)
    call_id = create_call(calls_api, app, NO_ANSWER)
    vserver.advance(4)

    assert callee(switchboard, call_id, action).status_code == 204
    vserver.advance(30)

    assert app.events("answer") == []
    disconnect = one_disconnect(app)
    assert disconnect["cause"] == cause
    assert "answerTime" not in disconnect
    assert since(created, disconnect["endTime"]) == 4.0


def test_press_digits_into_a_gather(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    gather = Gather(gather_url="/gather", terminating_digits="#", first_digit_timeout=20)
    app.on("/answer", Response([gather]).to_bxml())
    app.on("/gather", Response([Hangup()]).to_bxml())
    call_id = create_call(calls_api, app, ANSWERS)
    vserver.advance(10)

    assert callee(switchboard, call_id, "press", digits="42#").status_code == 204
    vserver.advance(30)

    (gathered,) = app.events("gather")
    assert (gathered["digits"], gathered["terminatingDigit"]) == ("42", "#")
    assert since(at(gathered["startTime"]), gathered["eventTime"]) == 10.5  # a key per 0.25 s


def test_hang_up_a_ringing_call_by_hand_rejects_it(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    call_id = create_call(calls_api, app, NO_ANSWER)
    vserver.advance(1)
    assert callee(switchboard, call_id, "hangup").status_code == 204
    vserver.advance(1)

    assert one_disconnect(app)["cause"] == "rejected"


# -- errors -----------------------------------------------------------------------------------


def test_callee_api_errors_are_bandwidth_shaped(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    ringing = create_call(calls_api, app, NO_ANSWER)
    app.on("/answer", Response([Hangup()]).to_bxml())
    finished = create_call(calls_api, app, ANSWERS)
    vserver.advance(5)

    assert_error(callee(switchboard, ringing, "dance"), 400, "validation")
    assert_error(callee(switchboard, ringing, "press", digits="12x"), 400, "validation")
    assert_error(callee(switchboard, ringing, "press", digits="1"), 409, "validation")
    assert_error(callee(switchboard, finished, "hangup"), 409, "validation")
    assert_error(callee(switchboard, "c-00000000-no-such-call", "answer"), 404, "validation")
    unauthenticated = httpx.post(
        f"{vserver.base_url}/switchboard/v1/accounts/{ACCOUNT_ID}/calls/{ringing}/callee",
        json={"action": "answer"},
    )
    assert_error(unauthenticated, 401, "authentication-error")
    # Another account's user cannot reach this account's calls.
    other = httpx.post(
        f"{vserver.base_url}/switchboard/v1/accounts/{ACCOUNT_ID}/calls/{ringing}/callee",
        json={"action": "answer"},
        auth=(OTHER_USERNAME, OTHER_PASSWORD),
    )
    assert_error(other, 403, "authorization-error")
    elsewhere = httpx.post(
        f"{vserver.base_url}/switchboard/v1/accounts/{OTHER_ACCOUNT_ID}/calls/{ringing}/callee",
        json={"action": "answer"},
        auth=(OTHER_USERNAME, OTHER_PASSWORD),
    )
    assert_error(elsewhere, 404, "validation")

    # None of that touched the ringing call; end it.
    assert callee(switchboard, ringing, "reject").status_code == 204
    vserver.advance(1)
    causes = sorted(event["cause"] for event in app.events("disconnect"))
    assert causes == ["hangup", "rejected"]


# -- phones at runtime ------------------------------------------------------------------------


def test_put_and_get_a_phone_change_how_it_behaves(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    number = "+15555550190"
    put = switchboard.put(
        f"/switchboard/v1/phones/{number}", json={"outcome": "busy", "answer_after": 0.5}
    )
    assert put.status_code == 200, put.text
    got = switchboard.get(f"/switchboard/v1/phones/{number}")
    assert got.status_code == 200
    assert got.json() == put.json()
    assert got.json()["outcome"] == "busy" and got.json()["answer_after"] == 0.5

    created = now(vserver)
    create_call(calls_api, app, number)
    vserver.advance(10)
    disconnect = one_disconnect(app)
    assert disconnect["cause"] == "busy"
    assert since(created, disconnect["endTime"]) == 0.5

    changed = switchboard.put(
        f"/switchboard/v1/phones/{number}",
        json={"outcome": "answer", "answer_after": 1, "hangup_after": 3, "digits": "7#"},
    )
    assert changed.status_code == 200
    app.on("/answer", Response([Gather(gather_url="/gather", terminating_digits="#")]).to_bxml())
    app.on("/gather", Response([Pause(30)]).to_bxml())
    created = now(vserver)
    create_call(calls_api, app, number)
    vserver.advance(10)

    (gathered,) = app.events("gather")
    assert gathered["digits"] == "7"
    disconnect = app.events("disconnect")[-1]
    assert disconnect["cause"] == "hangup"
    assert since(created, disconnect["endTime"]) == 1 + 3


def test_a_phone_pressing_keys_at_given_seconds_drives_start_gather(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    number = "+15555550192"
    timed = [{"at": 2.0, "digits": "7"}, {"at": 4.5, "digits": "8#"}]
    put = switchboard.put(
        f"/switchboard/v1/phones/{number}", json={"answer_after": 1, "digits": timed}
    )
    assert put.status_code == 200, put.text
    app.on("/answer", Response([StartGather(dtmf_url="/dtmf"), Pause(10)]).to_bxml())
    created = now(vserver)
    create_call(calls_api, app, number)
    vserver.advance(30)

    dtmf = app.events("dtmf")
    assert [(e["digit"], since(created, e["eventTime"])) for e in dtmf] == [
        ("7", 3.0),
        ("8", 5.5),
        ("#", 5.75),
    ]
    assert one_disconnect(app)["cause"] == "hangup"


def test_get_an_unconfigured_phone_shows_the_default(switchboard: httpx.Client) -> None:
    got = switchboard.get("/switchboard/v1/phones/+15555550177")
    assert got.status_code == 200
    assert got.json()["number"] == "+15555550177"
    assert got.json()["outcome"] == "answer" and got.json()["answer_after"] == 2.0


def test_phone_api_errors_are_bandwidth_shaped(
    vserver: VirtualTimeServer, switchboard: httpx.Client
) -> None:
    url = "/switchboard/v1/phones/+15555550191"
    assert_error(switchboard.put(url, json={"outcome": "maybe"}), 400, "validation")
    assert_error(switchboard.put(url, json={"answer_after": -1}), 400, "validation")
    assert_error(switchboard.put(url, json={"colour": "red"}), 400, "validation")
    assert_error(httpx.get(vserver.base_url + url), 401, "authentication-error")
    assert_error(
        httpx.put(vserver.base_url + url, json={"outcome": "busy"}), 401, "authentication-error"
    )
    assert switchboard.get(url).json()["outcome"] == "answer"  # unchanged


# -- SIP URIs ---------------------------------------------------------------------------------


def test_a_sip_uri_reaches_the_phone_of_its_user_part(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    busy = f"sip:{BUSY}@sip.example.com"
    create_call(calls_api, app, busy)
    vserver.advance(10)
    assert one_disconnect(app)["cause"] == "busy"
    assert one_disconnect(app)["to"] == busy  # callbacks show `to` as it was given


def test_a_sip_uri_with_parameters_reaches_a_phone_that_presses_keys(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    to = f"sip:{PRESSES_1234}@pbx.example.com;transport=tcp"
    app.on("/answer", Response([Gather(gather_url="/gather", terminating_digits="#")]).to_bxml())
    app.on("/gather", Response([Hangup()]).to_bxml())
    call_id = create_call(calls_api, app, to)
    vserver.advance(10)

    (gathered,) = app.events("gather")
    check_event(gathered, "gather", call_id, to)
    assert gathered["digits"] == "1234"
    assert entries(timeline(switchboard, call_id), "network", event="answered")
