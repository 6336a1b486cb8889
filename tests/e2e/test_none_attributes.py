"""A call whose BXML has attributes written as "None", as bandwidth-sdk 15.0.0 to 16.0.0 writes
every numeric or boolean attribute its user left unset: it runs with Bandwidth's defaults, and
its timeline tells the app's author which attributes were read as unset."""

from __future__ import annotations

import httpx
from bandwidth.api.calls_api import CallsApi
from bandwidth.models.bxml import Pause, Response

from switchboard.bxml import NONE_ATTRIBUTE_WARNING
from tests.e2e.flow import create_call, entries, now, one_disconnect, since, timeline
from tests.support.receiver import Receiver
from tests.support.server import ACCOUNT_ID, VirtualTimeServer

PRESSES_12 = "+15555550109"  # answers after 1 s; presses 1 then 2, 1 s into each Gather

# bandwidth-sdk 15.0.0's Response([Ring(), Gather(gather_url="/gathered",
# audio_verbs=[SpeakSentence("Press a digit")])]).to_bxml(), byte for byte.
SDK_15_ANSWER = (
    "<?xml version='1.0' encoding='UTF-8'?>\n"
    '<Response><Ring duration="None" answerCall="None" /><Gather gatherUrl="/gathered" '
    'maxDigits="None" interDigitTimeout="None" firstDigitTimeout="None" repeatCount="None">'
    "<SpeakSentence>Press a digit</SpeakSentence></Gather></Response>"
)
# Its Bxml([SendDtmf("12")]).to_bxml().
SDK_15_PUT = (
    "<?xml version='1.0' encoding='UTF-8'?>\n"
    '<Bxml><SendDtmf toneDuration="None" toneInterval="None">12</SendDtmf></Bxml>'
)


def test_none_attributes_take_their_defaults_and_the_timeline_names_them(
    vserver: VirtualTimeServer, app: Receiver, calls_api: CallsApi, switchboard: httpx.Client
) -> None:
    app.on("/answer", SDK_15_ANSWER)
    app.on("/gathered", Response([Pause(30)]).to_bxml())
    created = now(vserver)
    call_id = create_call(calls_api, app, PRESSES_12)
    vserver.advance(14)

    # Answered at 1 s; <Ring> for its default 5 s; the Gather hears 1 and 2 at 7 and 7.25 s,
    # then waits its default interDigitTimeout of 5 s for more.
    (gathered,) = app.events("gather")
    assert (gathered["digits"], since(created, gathered["eventTime"])) == ("12", 12.25)

    calls_api.update_call_bxml(ACCOUNT_ID, call_id, SDK_15_PUT)
    vserver.advance(10)
    # From 14 s, two digits of the default 200 ms tone and 400 ms interval, then the end of
    # the document.
    assert since(created, one_disconnect(app)["endTime"]) == 14 + 2 * 0.6

    items = timeline(switchboard, call_id)
    (answer_note,) = entries(items, "bxml", source="answer")
    assert answer_note["warning"] == NONE_ATTRIBUTE_WARNING
    assert answer_note["attributes"] == [
        "Ring duration",
        "Ring answerCall",
        "Gather maxDigits",
        "Gather interDigitTimeout",
        "Gather firstDigitTimeout",
        "Gather repeatCount",
    ]
    assert entries(items, "bxml", source="gather") == []  # its document has none
    (put,) = entries(items, "bxml", source="PUT /bxml")
    assert put["warning"] == NONE_ATTRIBUTE_WARNING
    assert put["attributes"] == ["SendDtmf toneDuration", "SendDtmf toneInterval"]
