"""<Bridge> in the parser and the interpreter (bxml/bridge.mdx)."""

from __future__ import annotations

from switchboard.bxml import State, actions, events, find_bxml_problems, verbs
from tests.unit.bxml.helpers import HANGUP, callback, document, speak, started

TARGET = "c-15ac29a2-1331029c-2cb0-4a07-b215-b22865662d85"


def test_the_verb_and_its_attributes() -> None:
    (bridge,) = document(
        f'<Bridge bridgeCompleteUrl="done" bridgeCompleteMethod="GET" '
        f'bridgeTargetCompleteUrl="/target" username="u" password="p" tag="t">{TARGET}</Bridge>'
    ).verbs
    assert isinstance(bridge, verbs.Bridge)
    assert bridge.target_call == TARGET
    assert bridge.bridge_complete_url == "https://app.example/voice/done"
    assert bridge.bridge_complete_method == "GET"
    assert bridge.bridge_target_complete_url == "https://app.example/target"
    assert (bridge.username, bridge.password, bridge.tag) == ("u", "p", "t")


def test_a_bridge_needs_a_call_id() -> None:
    (problem,) = find_bxml_problems("<Response><Bridge> </Bridge></Response>")
    assert "<Bridge> needs the callId of the call to bridge" in str(problem)


def test_the_bridge_waits_then_the_next_verbs_run() -> None:
    interpreter, first = started(f"<Bridge>{TARGET}</Bridge><SpeakSentence>After</SpeakSentence>")
    (start,) = first
    assert isinstance(start, actions.StartBridge) and start.verb.target_call == TARGET
    assert interpreter.state is State.BRIDGING
    assert interpreter.handle(events.MediaFinished()) == []
    assert interpreter.handle(events.BridgeFinished("hangup")) == [speak("After")]


def test_bridge_complete_carries_the_cause_and_ignores_later_verbs() -> None:
    interpreter, _ = started(
        f'<Bridge bridgeCompleteUrl="/complete">{TARGET}</Bridge><SpeakSentence>no</SpeakSentence>'
    )
    outcome = events.BridgeFinished("unknown", "call X has ended", "id-1")
    assert interpreter.handle(outcome) == [
        callback(
            "bridgeComplete",
            "https://app.example/complete",
            {"cause": "unknown", "errorMessage": "call X has ended", "errorId": "id-1"},
        )
    ]
    assert interpreter.handle(events.CallbackAnswered(None)) == [HANGUP]


def test_new_bxml_leaves_the_bridge() -> None:
    interpreter, _ = started(f"<Bridge>{TARGET}</Bridge>")
    assert interpreter.replace(document("<Hangup/>")) == [actions.StopBridge(), HANGUP]
    assert interpreter.handle(events.BridgeFinished("hangup")) == []


def test_a_bridged_target_is_suspended_until_new_bxml() -> None:
    interpreter, first = started("<SpeakSentence>Hold</SpeakSentence>")
    assert first == [speak("Hold")]
    assert interpreter.suspend() == [actions.StopMedia()]
    assert interpreter.handle(events.MediaFinished()) == []
    target_complete = callback("bridgeTargetComplete", "https://app.example/t", {})
    assert interpreter.await_callback(target_complete) == [target_complete]
    assert interpreter.handle(events.CallbackAnswered(document("<Hangup/>"))) == [HANGUP]


# <Forward> (bxml/forward.mdx)


def test_forward_and_its_attributes() -> None:
    (forward,) = document(
        '<Forward to="sip:desk@pbx.example.com" from="Anonymous" callTimeout="12" '
        'diversionTreatment="propagate" uui="aGk;encoding=base64"/>'
    ).verbs
    assert isinstance(forward, verbs.Forward)
    assert (forward.to, forward.from_, forward.call_timeout) == (
        "sip:desk@pbx.example.com",
        "Anonymous",
        12.0,
    )
    assert (forward.diversion_treatment, forward.uui) == ("propagate", "aGk;encoding=base64")


def test_forward_needs_a_valid_to() -> None:
    (missing,) = find_bxml_problems("<Response><Forward/></Response>")
    assert "<Forward> needs the attribute to" in str(missing)
    (bad,) = find_bxml_problems('<Response><Forward to="555"/></Response>')
    assert "must be an E.164 number like +15555551212 or a SIP URI" in str(bad)


def test_after_forward_no_bxml_runs_and_none_can_replace_it() -> None:
    interpreter, first = started('<Forward to="+15555550199"/><SpeakSentence>no</SpeakSentence>')
    (start,) = first
    assert isinstance(start, actions.StartForward) and start.verb.to == "+15555550199"
    assert interpreter.state is State.FORWARDED
    assert interpreter.handle(events.MediaFinished()) == []
    assert interpreter.replace(document("<Hangup/>")) == []
