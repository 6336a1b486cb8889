"""An IVR as a developer would write it: speak, gather, branch on the digits in the webhook app,
redirect, hang up; the callee is a virtual phone that presses "1" in the first menu and "2#" in
the second."""

from __future__ import annotations

import httpx
from bandwidth.api.calls_api import CallsApi
from bandwidth.models.bxml import Gather, Hangup, Redirect, Response, SpeakSentence

from tests.e2e.flow import at, check_event, create_call, entries, one_disconnect, since, timeline
from tests.support.receiver import Received, Receiver
from tests.support.server import VirtualTimeServer

# What the call says, in order, when the callee presses "1" then "2#".
SPOKEN = [
    "Welcome to Example Corp",
    "Press 1 for sales or 2 for support",
    "Connecting you to sales",
    "Enter your account number then pound",
    "Thank you, account 2. Goodbye",
]
CALLER = "+15555550107"  # answers after 1 s; "1" to the first Gather, "2#" to the next


def main_menu() -> str:
    prompt = SpeakSentence("Press 1 for sales or 2 for support")  # 8 words: 3.2 s
    return Response(
        [
            SpeakSentence("Welcome to Example Corp"),  # 4 words: 1.6 s
            Gather(gather_url="/menu", max_digits=1, first_digit_timeout=5, audio_verbs=[prompt]),
            SpeakSentence("We did not get your choice"),
            Hangup(),
        ]
    ).to_bxml()


def menu_choice(request: Received) -> str:
    choice = request.event["digits"]
    if choice == "1":
        return Response([SpeakSentence("Connecting you to sales"), Redirect("/sales")]).to_bxml()
    if choice == "2":
        return Response(
            [SpeakSentence("Connecting you to support"), Redirect("/support")]
        ).to_bxml()
    return Response([SpeakSentence("Sorry"), Redirect("/answer")]).to_bxml()


def sales() -> str:
    prompt = SpeakSentence("Enter your account number then pound")
    gather = Gather(
        gather_url="/account", terminating_digits="#", max_digits=8, audio_verbs=[prompt]
    )
    return Response([gather]).to_bxml()


def account_entered(request: Received) -> str:
    account = request.event["digits"]
    return Response([SpeakSentence(f"Thank you, account {account}. Goodbye"), Hangup()]).to_bxml()


def test_ivr_speak_gather_branch_redirect_hangup(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    app.on("/answer", main_menu())
    app.on("/menu", menu_choice)
    app.on("/sales", sales())
    app.on("/account", account_entered)
    call_id = create_call(calls_api, app, CALLER, tag="ivr")
    vserver.advance(60)

    assert [(r.path, r.event["eventType"]) for r in app.received] == [
        ("/answer", "answer"),
        ("/menu", "gather"),
        ("/sales", "redirect"),
        ("/account", "gather"),
        ("/disconnect", "disconnect"),
    ]
    answer, menu, redirect, account, disconnect = app.events()
    for event in (menu, account):
        check_event(event, "gather", call_id, CALLER, optional={"tag"})
    check_event(redirect, "redirect", call_id, CALLER, optional={"tag"})
    assert (menu["digits"], menu["terminatingDigit"]) == ("1", "")
    assert (account["digits"], account["terminatingDigit"]) == ("2", "#")
    assert disconnect["cause"] == "hangup" and disconnect["tag"] == "ivr"
    assert one_disconnect(app) == disconnect

    answered = at(answer["answerTime"])
    # Welcome 1.6 s; the callee presses 1 s into the menu, cutting its prompt; "Connecting you to
    # sales" 1.6 s; keys 1 s and 1.25 s into the second Gather; the goodbye is 5 words, 2.0 s.
    assert since(answered, menu["eventTime"]) == 2.6
    assert since(answered, redirect["eventTime"]) == 4.2
    assert since(answered, account["eventTime"]) == 5.45
    assert since(answered, disconnect["endTime"]) == 7.45

    spoken = [
        entry["text"]
        for entry in entries(timeline(switchboard, call_id), "verb", event="started")
        if entry["verb"] == "SpeakSentence"
    ]
    assert spoken == SPOKEN
