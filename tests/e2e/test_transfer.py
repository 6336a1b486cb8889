"""<Transfer> on the simulated network, as the transfer guide's apps see it (bxml/transfer.mdx,
webhooks/transferAnswer.mdx, transferComplete.mdx, transferDisconnect.mdx), with the official
SDK's BXML builders. Virtual phones (tests/e2e/conftest.py): +15555550106 answers after 1 s and
hangs up 5 s later; +15555550101 is busy; +15555550103 never answers; any other number answers
after 2 s and never hangs up."""

from __future__ import annotations

from typing import Any

import httpx
from bandwidth.api.calls_api import CallsApi
from bandwidth.models.bxml import Hangup, PhoneNumber, Response, SpeakSentence, Transfer

from tests.e2e.flow import create_call, entries, now, since, timeline
from tests.support.receiver import Receiver
from tests.support.server import ACCOUNT_ID, APPLICATION_ID, FROM_NUMBER, VirtualTimeServer

CALLEE = "+15555550190"  # answers after 2 s, stays
HANGS_UP = "+15555550106"  # answers after 1 s, hangs up 5 s after answering
BUSY = "+15555550101"
NEVER_ANSWERS = "+15555550103"
TRANSFER_ANSWER_FIELDS = {
    "eventType",
    "eventTime",
    "accountId",
    "applicationId",
    "from",
    "to",
    "direction",
    "callId",
    "parentCallId",
    "callUrl",
    "enqueuedTime",
    "startTime",
    "answerTime",
    "transferCallerId",
    "transferTo",
}
TRANSFER_DISCONNECT_FIELDS = {
    "eventType",
    "eventTime",
    "from",
    "to",
    "direction",
    "callId",
    "parentCallId",
    "callUrl",
    "enqueuedTime",
    "startTime",
    "endTime",
    "transferCallerId",
    "transferTo",
    "cause",
}


def transfer_to(*numbers: str, complete: bool = True, **attributes: Any) -> str:
    targets = [
        PhoneNumber(
            number,
            transfer_answer_url="/whisper",
            transfer_disconnect_url="/transfer-disconnect",
        )
        for number in numbers
    ]
    transfer = Transfer(
        targets,
        transfer_complete_url="/complete" if complete else None,
        **attributes,
    )
    return Response([SpeakSentence("Connecting you"), transfer]).to_bxml()


def by_type(app: Receiver, event_type: str) -> list[dict[str, Any]]:
    return app.events(event_type)


def test_a_transfer_rings_whispers_joins_and_completes_when_the_target_hangs_up(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    app.on("/answer", transfer_to(HANGS_UP, transfer_caller_id="+15555550000"))
    app.on("/whisper", Response([SpeakSentence("You have a call")]).to_bxml())
    app.on("/complete", Response([SpeakSentence("They left"), Hangup()]).to_bxml())
    started = now(vserver)
    call_id = create_call(calls_api, app, CALLEE)
    vserver.advance(60)

    (answer,) = by_type(app, "transferAnswer")
    target = answer["callId"]
    assert set(answer) == TRANSFER_ANSWER_FIELDS, sorted(answer)
    assert answer["parentCallId"] == call_id and target != call_id
    # from and to are the original call's; the target's own are transferCallerId/transferTo.
    assert (answer["from"], answer["to"]) == (FROM_NUMBER, CALLEE)
    assert (answer["transferCallerId"], answer["transferTo"]) == ("+15555550000", HANGS_UP)
    assert answer["direction"] == "outbound"
    assert answer["callUrl"].endswith(f"/api/v2/accounts/{ACCOUNT_ID}/calls/{target}")
    # A answers at 2 s and speaks 0.8 s (2 words); the target answers 1 s later.
    assert since(started, answer["answerTime"]) == 3.8

    (gone,) = by_type(app, "transferDisconnect")
    assert set(gone) == TRANSFER_DISCONNECT_FIELDS | {"answerTime"}, sorted(gone)
    assert (gone["callId"], gone["parentCallId"], gone["cause"]) == (target, call_id, "hangup")
    assert since(started, gone["endTime"]) == 8.8  # hung up 5 s after answering

    (complete,) = by_type(app, "transferComplete")
    assert complete["callId"] == call_id and complete["cause"] == "hangup"
    assert (complete["transferCallerId"], complete["transferTo"]) == ("+15555550000", HANGS_UP)
    (disconnect,) = [e for e in app.events("disconnect") if e["callId"] == call_id]
    assert disconnect["cause"] == "hangup"

    state = calls_api.get_call_state(ACCOUNT_ID, target)
    assert state.parent_call_id == call_id and state.direction == "outbound"
    assert state.application_id == APPLICATION_ID
    assert calls_api.get_call_state(ACCOUNT_ID, call_id).parent_call_id is None

    joined = entries(timeline(switchboard, call_id), "transfer", event="joined")
    assert [e["callId"] for e in joined] == [target]
    assert vserver.server.config.app.state.context.simulator.rooms == set()  # closed at the end
    target_items = timeline(switchboard, target)
    assert entries(target_items, "transfer", event="joined")[0]["callId"] == call_id
    whisper = entries(target_items, "verb", verb="SpeakSentence", event="started")
    assert [e["text"] for e in whisper] == ["You have a call"]


def test_simultaneous_ring_the_first_to_answer_wins_the_others_are_cancelled(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    app.on("/answer", transfer_to(CALLEE, HANGS_UP, BUSY))
    app.on("/whisper", "")  # no whisper: joined at once
    app.on("/complete", Response([Hangup()]).to_bxml())
    call_id = create_call(calls_api, app, "+15555550191")
    vserver.advance(60)
    (answer,) = by_type(app, "transferAnswer")
    assert answer["transferTo"] == HANGS_UP  # answers after 1 s, before the other's 2 s
    causes = {e["transferTo"]: e["cause"] for e in by_type(app, "transferDisconnect")}
    # The busy phone would say so after 2 s: it was cancelled at 1 s, when the winner answered.
    assert causes == {CALLEE: "cancel", HANGS_UP: "hangup", BUSY: "cancel"}
    assert [e["cause"] for e in by_type(app, "transferComplete")] == ["hangup"]
    assert [e["callId"] for e in app.events("disconnect")] == [call_id]


def test_when_every_target_fails_transfer_complete_says_why_and_the_call_goes_on(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    app.on("/answer", transfer_to(BUSY))
    app.on("/complete", Response([SpeakSentence("Nobody is free"), Hangup()]).to_bxml())
    create_call(calls_api, app, "+15555550192")
    vserver.advance(60)
    (complete,) = by_type(app, "transferComplete")
    assert complete["cause"] == "busy" and complete["transferTo"] == BUSY
    assert complete["errorMessage"] == "Callee is busy" and complete["errorId"]
    assert by_type(app, "transferAnswer") == []
    assert [e["cause"] for e in by_type(app, "transferDisconnect")] == ["busy"]


def test_without_transfer_complete_url_the_next_verbs_run(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    bxml = Response(
        [
            Transfer([PhoneNumber(NEVER_ANSWERS)], call_timeout=5),
            SpeakSentence("Sorry, nobody answered"),
        ]
    ).to_bxml()
    app.on("/answer", bxml)
    call_id = create_call(calls_api, app, "+15555550193")
    vserver.advance(60)
    assert by_type(app, "transferComplete") == []
    spoken = entries(timeline(switchboard, call_id), "verb", verb="SpeakSentence", event="started")
    assert [e["text"] for e in spoken] == ["Sorry, nobody answered"]
    (disconnect,) = app.events("disconnect")
    assert disconnect["cause"] == "hangup"


def test_the_original_caller_hanging_up_ends_the_target_and_sends_no_transfer_complete(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    app.on("/answer", transfer_to(CALLEE))
    app.on("/whisper", "")
    app.on("/complete", Response([Hangup()]).to_bxml())
    call_id = create_call(calls_api, app, HANGS_UP)  # A hangs up 5 s after answering
    vserver.advance(60)
    assert by_type(app, "transferComplete") == []
    (gone,) = by_type(app, "transferDisconnect")
    assert gone["cause"] == "hangup" and gone["parentCallId"] == call_id
    (disconnect,) = app.events("disconnect")
    assert disconnect["callId"] == call_id and disconnect["cause"] == "hangup"


def test_the_original_caller_hanging_up_while_targets_ring_cancels_them(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    app.on("/answer", transfer_to(NEVER_ANSWERS))
    call_id = create_call(calls_api, app, HANGS_UP)
    vserver.advance(60)
    (gone,) = by_type(app, "transferDisconnect")
    assert gone["cause"] == "cancel" and "answerTime" not in gone
    assert [e["callId"] for e in app.events("disconnect")] == [call_id]


def test_a_redirect_during_the_bridge_ends_the_target_and_runs_the_new_bxml(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    app.on("/answer", transfer_to(CALLEE))
    app.on("/whisper", "")
    app.on("/moved", Response([SpeakSentence("Moved away"), Hangup()]).to_bxml())
    call_id = create_call(calls_api, app, "+15555550194")
    vserver.advance(10)  # A answered at 2 s, the target at 4.8 s: joined
    (answer,) = by_type(app, "transferAnswer")
    simulator = vserver.server.config.app.state.context.simulator
    assert {room.leg_ids for room in simulator.rooms} == {(call_id, answer["callId"])}
    redirect = switchboard.post(
        f"/api/v2/accounts/{ACCOUNT_ID}/calls/{call_id}", json={"redirectUrl": "/moved"}
    )
    assert redirect.status_code == 200, redirect.text
    vserver.advance(30)
    (gone,) = by_type(app, "transferDisconnect")
    assert gone["callId"] == answer["callId"] and gone["cause"] == "hangup"
    assert by_type(app, "transferComplete") == []
    (disconnect,) = app.events("disconnect")
    assert disconnect["callId"] == call_id and disconnect["cause"] == "hangup"


def test_targets_answering_at_the_same_moment_only_the_winner_hears_transfer_answer(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    app.on("/answer", transfer_to(CALLEE, "+15555550195"))  # both answer after 2 s
    app.on("/whisper", Response([SpeakSentence("For you")]).to_bxml())
    app.on("/complete", Response([Hangup()]).to_bxml())
    call_id = create_call(calls_api, app, "+15555550196")
    vserver.advance(10)
    (answer,) = by_type(app, "transferAnswer")
    (loser,) = by_type(app, "transferDisconnect")
    assert loser["cause"] == "cancel" and loser["callId"] != answer["callId"]
    ended = switchboard_end(vserver, call_id)
    assert ended.status_code == 200
    vserver.advance(30)


def switchboard_end(vserver: VirtualTimeServer, call_id: str) -> httpx.Response:
    return httpx.post(
        f"{vserver.base_url}/api/v2/accounts/{ACCOUNT_ID}/calls/{call_id}",
        json={"state": "completed"},
        auth=("alice", "alice-secret-password"),
    )


def test_a_redirect_of_the_target_during_the_join_completes_the_transfer_for_the_caller(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    app.on("/answer", transfer_to(CALLEE))
    app.on("/whisper", "")
    app.on("/complete", Response([SpeakSentence("Your agent left"), Hangup()]).to_bxml())
    app.on("/survey", Response([SpeakSentence("Rate the caller")]).to_bxml())
    call_id = create_call(calls_api, app, "+15555550197")
    vserver.advance(10)
    (answer,) = by_type(app, "transferAnswer")
    target = answer["callId"]
    redirect = switchboard.post(
        f"/api/v2/accounts/{ACCOUNT_ID}/calls/{target}", json={"redirectUrl": "/survey"}
    )
    assert redirect.status_code == 200, redirect.text
    vserver.advance(30)
    (complete,) = by_type(app, "transferComplete")
    assert complete["callId"] == call_id and complete["cause"] == "hangup"
    # The target ran its new document and, at its end, hung up like any call.
    spoken = entries(timeline(switchboard, target), "verb", verb="SpeakSentence", event="started")
    assert [e["text"] for e in spoken] == ["Rate the caller"]
    (gone,) = by_type(app, "transferDisconnect")
    assert gone["callId"] == target and gone["cause"] == "hangup"
    (disconnect,) = app.events("disconnect")
    assert disconnect["callId"] == call_id
