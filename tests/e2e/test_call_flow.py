"""Whole calls, from create to disconnect, against a real webhook app on a virtual clock."""

from __future__ import annotations

from bandwidth.api.calls_api import CallsApi
from bandwidth.models.bxml import Gather, Hangup, Response, SpeakSentence
from bandwidth.models.create_call import CreateCall

from tests.support.receiver import Receiver
from tests.support.server import ACCOUNT_ID, APPLICATION_ID, FROM_NUMBER, VirtualTimeServer


def create(calls_api: CallsApi, app: Receiver, to: str, **extra: object) -> str:
    body = CreateCall(
        to=to,
        var_from=FROM_NUMBER,
        application_id=APPLICATION_ID,
        answer_url=app.url("/answer"),
        disconnect_url=app.url("/disconnect"),
        **extra,  # type: ignore[arg-type]
    )
    return calls_api.create_call(ACCOUNT_ID, body).call_id


def test_ivr_speak_gather_hangup(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi
) -> None:
    app.on(
        "/answer",
        Response(
            [
                SpeakSentence("Welcome to the demo"),
                Gather(
                    gather_url="/gather",
                    max_digits=5,
                    terminating_digits="#",
                    audio_verbs=[SpeakSentence("Enter your code")],
                ),
            ]
        ).to_bxml(),
    )
    app.on("/gather", Response([SpeakSentence("Thanks"), Hangup()]).to_bxml())
    call_id = create(calls_api, app, "+15555550105", tag="first")
    vserver.advance(60)
    answer = app.events("answer")
    assert len(answer) == 1 and answer[0]["callId"] == call_id and answer[0]["tag"] == "first"
    gather = app.events("gather")
    assert len(gather) == 1
    assert gather[0]["digits"] == "1234" and gather[0]["terminatingDigit"] == "#"
    disconnect = app.events("disconnect")
    assert len(disconnect) == 1 and disconnect[0]["cause"] == "hangup"


def test_busy(vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi) -> None:
    create(calls_api, app, "+15555550101")
    vserver.advance(10)
    assert app.events("answer") == []
    (disconnect,) = app.events("disconnect")
    assert disconnect["cause"] == "busy"
