"""<Bridge> on the simulated network (bxml/bridge.mdx, webhooks/bridgeComplete.mdx,
bridgeTargetComplete.mdx): a call joins another live call of the account; whichever leaves first
lets the other run new BXML. Built with the official SDK's BXML builders."""

from __future__ import annotations

import httpx
from bandwidth.api.calls_api import CallsApi
from bandwidth.models.bxml import Bridge, Hangup, Pause, Response, SpeakSentence

from tests.e2e.flow import callee, create_call, entries, timeline
from tests.support.receiver import Receiver
from tests.support.server import ACCOUNT_ID, VirtualTimeServer

WAITING = "+15555550190"  # answers after 2 s, never hangs up
AGENT = "+15555550191"
NEVER_ANSWERS = "+15555550103"
HOLD = Response([SpeakSentence("Please hold"), Pause(duration=600)]).to_bxml()


def bridge_to(call_id: str, *, target_complete: bool = True) -> str:
    return Response(
        [
            Bridge(
                call_id,
                bridge_complete_url="/bridge-complete",
                bridge_target_complete_url="/target-complete" if target_complete else None,
            ),
            SpeakSentence("ignored: bridgeCompleteUrl is set"),
        ]
    ).to_bxml()


def open_rooms(vserver: VirtualTimeServer) -> set[tuple[str, ...]]:
    """The legs the simulated network has joined now (its rooms)."""
    simulator = vserver.server.config.app.state.context.simulator
    return {room.leg_ids for room in simulator.rooms}


def waiting_call(vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi) -> str:
    app.on("/hold", HOLD)
    call_id = create_call(calls_api, app, WAITING, answer="/hold", disconnect="/gone-waiting")
    vserver.advance(5)  # answered, on hold
    return call_id


def test_the_target_leaving_gives_bridge_complete_to_the_call_that_bridged(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    waiting = waiting_call(vserver, app, calls_api)
    app.on("/agent", bridge_to(waiting))
    app.on("/bridge-complete", Response([SpeakSentence("They hung up"), Hangup()]).to_bxml())
    agent = create_call(calls_api, app, AGENT, answer="/agent", disconnect="/gone-agent")
    vserver.advance(5)  # the agent answered and bridged the waiting call
    waiting_items = timeline(switchboard, waiting)
    assert entries(waiting_items, "bridge", event="joined")[0]["callId"] == agent
    assert open_rooms(vserver) == {(agent, waiting)}  # the call that ran <Bridge> owns it
    # The waiting call's own BXML was cancelled when it was bridged.
    assert entries(waiting_items, "verb", verb="Pause", event="stopped")
    assert callee(switchboard, waiting, "hangup").status_code == 204
    vserver.advance(30)

    (complete,) = app.events("bridgeComplete")
    assert complete["callId"] == agent and complete["cause"] == "hangup"
    assert open_rooms(vserver) == set()
    assert app.events("bridgeTargetComplete") == []
    causes = {e["callId"]: e["cause"] for e in app.events("disconnect")}
    assert causes == {waiting: "hangup", agent: "hangup"}
    spoken = entries(timeline(switchboard, agent), "verb", verb="SpeakSentence", event="started")
    assert [e["text"] for e in spoken] == ["They hung up"]


def test_the_bridging_call_leaving_gives_bridge_target_complete_to_the_target(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    waiting = waiting_call(vserver, app, calls_api)
    app.on("/agent", bridge_to(waiting))
    app.on("/target-complete", Response([SpeakSentence("Agent left"), Hangup()]).to_bxml())
    agent = create_call(calls_api, app, AGENT, answer="/agent")
    vserver.advance(5)
    completed = switchboard.post(
        f"/api/v2/accounts/{ACCOUNT_ID}/calls/{agent}", json={"state": "completed"}
    )
    assert completed.status_code == 200
    vserver.advance(30)
    (target_complete,) = app.events("bridgeTargetComplete")
    assert target_complete["callId"] == waiting
    assert "cause" not in target_complete
    assert app.events("bridgeComplete") == []
    spoken = entries(timeline(switchboard, waiting), "verb", verb="SpeakSentence", event="started")
    assert [e["text"] for e in spoken] == ["Please hold", "Agent left"]


def test_without_bridge_target_complete_url_the_target_hangs_up(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    waiting = waiting_call(vserver, app, calls_api)
    app.on("/agent", bridge_to(waiting, target_complete=False))
    agent = create_call(calls_api, app, AGENT, answer="/agent")
    vserver.advance(5)
    assert callee(switchboard, agent, "hangup").status_code == 204
    vserver.advance(30)
    causes = {e["callId"]: e["cause"] for e in app.events("disconnect")}
    assert causes == {waiting: "hangup", agent: "hangup"}
    assert app.events("bridgeTargetComplete") == [] and app.events("bridgeComplete") == []


def test_a_redirect_of_the_target_ends_the_bridge_for_both(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    waiting = waiting_call(vserver, app, calls_api)
    app.on("/agent", bridge_to(waiting))
    app.on("/bridge-complete", Response([Hangup()]).to_bxml())
    app.on("/elsewhere", Response([SpeakSentence("Moved"), Hangup()]).to_bxml())
    agent = create_call(calls_api, app, AGENT, answer="/agent")
    vserver.advance(5)
    redirect = switchboard.post(
        f"/api/v2/accounts/{ACCOUNT_ID}/calls/{waiting}", json={"redirectUrl": "/elsewhere"}
    )
    assert redirect.status_code == 200
    vserver.advance(30)
    (complete,) = app.events("bridgeComplete")
    assert complete["callId"] == agent and complete["cause"] == "hangup"
    spoken = entries(timeline(switchboard, waiting), "verb", verb="SpeakSentence", event="started")
    assert [e["text"] for e in spoken] == ["Please hold", "Moved"]


def test_calls_that_cannot_be_bridged_give_bridge_complete_with_the_reason(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    ringing = create_call(calls_api, app, NEVER_ANSWERS, answer="/never", disconnect=None)
    app.on("/agent-1", bridge_to("c-00000000-0000-4000-8000-000000000000"))
    app.on("/agent-2", bridge_to(ringing))
    app.on("/bridge-complete", Response([Hangup()]).to_bxml())
    first = create_call(calls_api, app, AGENT, answer="/agent-1")
    second = create_call(calls_api, app, "+15555550192", answer="/agent-2")
    vserver.advance(10)
    reasons = {e["callId"]: e for e in app.events("bridgeComplete")}
    assert reasons[first]["cause"] == "unknown"
    assert "is not a live call" in reasons[first]["errorMessage"] and reasons[first]["errorId"]
    assert reasons[second]["cause"] == "unknown"
    assert "is outbound and not answered yet" in reasons[second]["errorMessage"]
    completed = httpx.post(
        f"{vserver.base_url}/api/v2/accounts/{ACCOUNT_ID}/calls/{ringing}",
        json={"state": "completed"},
        auth=("alice", "alice-secret-password"),
    )
    assert completed.status_code == 200
    vserver.advance(30)
