"""The simulated network on a virtual clock: outcomes, timings, digits, media durations."""

from __future__ import annotations

from switchboard.activity import Activity
from switchboard.clock import VirtualClock
from switchboard.network import base as net
from switchboard.network.phones import parse_simulator
from switchboard.network.simulated import SimulatedNetwork, speech_seconds


def network(phones: list[dict[str, object]]) -> tuple[SimulatedNetwork, VirtualClock]:
    clock = VirtualClock()
    settings = parse_simulator({"simulator": {"default": {"answer_after": 2.0}, "phones": phones}})
    return SimulatedNetwork(settings, clock, Activity()), clock


def record(sim: SimulatedNetwork, to: str) -> tuple[list[object], net.Leg]:
    events: list[object] = []
    leg = sim.originate("c-1", to, "+15555551212", events.append)
    return events, leg


def test_default_phone_rings_then_answers_after_two_seconds() -> None:
    sim, clock = network([])
    events, _ = record(sim, "+15555559999")
    assert events == [net.Ringing()]
    clock.advance(1.99)
    assert events == [net.Ringing()]
    clock.advance(0.01)
    assert events == [net.Ringing(), net.Answered()]


def test_outcomes() -> None:
    sim, clock = network(
        [
            {"number": "+1001", "outcome": "busy"},
            {"number": "+1002", "outcome": "reject"},
            {"number": "+1003", "outcome": "fail"},
            {"number": "+1004", "outcome": "no-answer"},
        ]
    )
    results = {number: record(sim, number)[0] for number in ("+1001", "+1002", "+1003", "+1004")}
    clock.advance(3600)
    assert results["+1001"][-1] == net.Busy(486)
    assert results["+1002"][-1] == net.Rejected(603)
    failed = results["+1003"][-1]
    assert isinstance(failed, net.Failed) and failed.sip_code == 503
    assert results["+1004"] == [net.Ringing()]


def test_callee_hangs_up_after_answering() -> None:
    sim, clock = network([{"number": "+1005", "answer_after": 1, "hangup_after": 5}])
    events, _ = record(sim, "+1005")
    clock.advance(5.9)
    assert events[-1] == net.Answered()
    clock.advance(0.1)
    assert events[-1] == net.RemoteHangup()
    assert "c-1" not in sim.legs


def test_gather_digits_are_pressed_after_the_delay_one_by_one() -> None:
    sim, clock = network([{"number": "+1006", "answer_after": 0, "digits": "12#"}])
    events, leg = record(sim, "+1006")
    clock.advance(0)
    leg.gather_started()
    clock.advance(1.0)
    assert events[-1] == net.Digit("1")
    clock.advance(0.5)
    assert [e for e in events if isinstance(e, net.Digit)] == [
        net.Digit("1"),
        net.Digit("2"),
        net.Digit("#"),
    ]


def test_speech_takes_its_words_at_150_per_minute() -> None:
    assert speech_seconds("one two three four five", 150) == 2.0
    assert speech_seconds("", 150) == 0.5
    sim, clock = network([{"number": "+1007", "answer_after": 0}])
    events, leg = record(sim, "+1007")
    clock.advance(0)
    leg.speak("one two three four five", None, None, None)
    clock.advance(1.99)
    assert not any(isinstance(e, net.MediaFinished) for e in events)
    clock.advance(0.01)
    assert events[-1] == net.MediaFinished(leg.media_generation)


def test_stopped_media_reports_nothing() -> None:
    sim, clock = network([{"number": "+1008", "answer_after": 0}])
    events, leg = record(sim, "+1008")
    clock.advance(0)
    leg.silence(5)
    clock.advance(1)
    leg.stop_media()
    clock.advance(10)
    assert not any(isinstance(e, net.MediaFinished) for e in events)


def test_our_hangup_stops_every_timer() -> None:
    sim, clock = network([{"number": "+1009", "answer_after": 1, "hangup_after": 5}])
    events, leg = record(sim, "+1009")
    clock.advance(2)
    leg.hangup()
    clock.advance(60)
    assert events == [net.Ringing(), net.Answered()]
