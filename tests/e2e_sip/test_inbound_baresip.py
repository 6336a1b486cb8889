"""baresip dials in: a real softphone calls the account's number, the application the number
rings answers it, and everything works as on a call we place: the phone hears our speech, the
ringback of <Ring answerCall="false"> before the answer, and every sample of a PlayAudio; its keys
reach a Gather, and our SendDtmf reaches it.

The recording is measured from the audio itself (where the sound starts and stops in it),
never lined up with Switchboard's timestamps: the two clocks need not agree (test_baresip.py)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from bandwidth.models.bxml import (
    Gather,
    Hangup,
    Pause,
    PlayAudio,
    Response,
    Ring,
    SendDtmf,
    SpeakSentence,
)

from tests.e2e_sip.inbound import OUR_NUMBER, inbound_config, sip_port
from tests.e2e_sip.test_baresip import (
    SAMPLE_RATE,
    energy_windows,
    heard_samples,
    seconds_between,
    sound_span,
    tone_wav,
)
from tests.e2e_sip.timeline import wait_for_timeline
from tests.support.baresip import PHONE_USER, BaresipPhone
from tests.support.receiver import Raw, Receiver
from tests.support.server import PASSWORD, USERNAME, RunningServer, start_server


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
    with ivr_app._lock:
        ivr_app.received.clear()
    ivr_app.routes.clear()
    return ivr_app


@pytest.fixture
def switchboard(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, auth=(USERNAME, PASSWORD)) as client:
        yield client


def dial_in(phone: BaresipPhone, server: RunningServer) -> None:
    """The phone calls the account's number at the server's SIP address."""
    phone.command("dial", f"sip:{OUR_NUMBER}@127.0.0.1:{sip_port(server)}")


def test_a_phone_that_dials_in_hears_our_speech(
    server: RunningServer, app: Receiver, switchboard: httpx.Client, phone: BaresipPhone
) -> None:
    text = "Thank you for calling Switchboard. All our agents are busy right now."
    app.on("/initiate", Response([SpeakSentence(text), Pause(duration=2), Hangup()]).to_bxml())
    dial_in(phone, server)
    (initiate,) = app.wait_events("initiate")
    (disconnect,) = app.wait_events("disconnect", timeout=30)
    phone.wait_for("CALL_CLOSED")  # our BYE

    assert (initiate["from"], initiate["to"]) == (PHONE_USER, OUR_NUMBER)
    assert initiate["sipCallId"]
    assert disconnect["cause"] == "hangup"
    call_id = initiate["callId"]
    spoke = wait_for_timeline(switchboard, call_id, "verb", verb="SpeakSentence", event="started")
    done = wait_for_timeline(switchboard, call_id, "verb", verb="SpeakSentence", event="finished")
    spoken = seconds_between(spoke["at"], done["at"])
    assert spoken > 2.0  # espeak-ng says that in about 4 s

    samples = heard_samples(phone.received_recording())
    first, last = sound_span(samples, 500)
    speech_from, speech_to = first / SAMPLE_RATE, last / SAMPLE_RATE
    # As long as the timeline says we spoke, less espeak-ng's quiet edges and the lateness of a
    # loaded machine in writing "finished"; never longer.
    assert spoken - 1.0 < speech_to - speech_from <= spoken + 0.1
    during = energy_windows(samples, speech_from, speech_to)
    speaking = sum(1 for rms in during if rms > 500) / len(during)
    assert speaking > 0.6, f"speech energy in only {speaking:.0%} of the spoken span"
    after = energy_windows(samples, speech_to + 0.2, speech_to + 1.7)
    assert len(after) >= 14 and max(after) < 100, "the Pause after the speech should be silence"


def test_the_phone_hears_ringback_before_the_answer(
    server: RunningServer, app: Receiver, switchboard: httpx.Client, phone: BaresipPhone
) -> None:
    """<Ring answerCall="false">: our ringback reaches the caller as early media (183), then
    the SpeakSentence answers the call; the phone hears both, the ring first."""
    ring_then_answer = [Ring(duration=3, answer_call=False), SpeakSentence("Hello."), Hangup()]
    app.on("/initiate", Response(ring_then_answer).to_bxml())
    dial_in(phone, server)
    (initiate,) = app.wait_events("initiate")
    (disconnect,) = app.wait_events("disconnect", timeout=30)
    phone.wait_for("CALL_CLOSED")
    assert disconnect["cause"] == "hangup"
    ringing = wait_for_timeline(switchboard, initiate["callId"], "verb", verb="Ring")
    answered = wait_for_timeline(switchboard, initiate["callId"], "state", state="answered")
    assert seconds_between(ringing["at"], answered["at"]) >= 2.9  # answered after the ring

    samples = heard_samples(phone.received_recording())
    first, _ = sound_span(samples, 500)
    # Ringback (440 + 480 Hz) is on for 2 s, then off: the first 2 s of sound are steady tone.
    ring = energy_windows(samples, first / SAMPLE_RATE, first / SAMPLE_RATE + 1.9)
    assert len(ring) >= 18 and min(ring) > 1000, "the ringback should be heard for 2 s"
    assert min(energy_windows(samples, first / SAMPLE_RATE + 2.1, first / SAMPLE_RATE + 2.9)) < 100


def test_keys_go_both_ways_on_a_call_that_came_in(
    server: RunningServer, app: Receiver, switchboard: httpx.Client, phone: BaresipPhone
) -> None:
    app.on(
        "/initiate",
        Response([Gather(gather_url="/keys", max_digits=1, first_digit_timeout=15)]).to_bxml(),
    )
    app.on("/keys", Response([SendDtmf("59"), Pause(duration=1), Hangup()]).to_bxml())
    dial_in(phone, server)
    (initiate,) = app.wait_events("initiate")
    wait_for_timeline(switchboard, initiate["callId"], "verb", verb="Gather", event="started")
    phone.command("sndcode", "7")

    (gathered,) = app.wait_events("gather", timeout=20)
    assert gathered["digits"] == "7" and gathered["direction"] == "inbound"
    pressed = phone.wait_for("CALL_DTMF_START", count=2, timeout=20)
    assert [event["param"] for event in pressed] == ["5", "9"]
    (disconnect,) = app.wait_events("disconnect", timeout=20)
    assert disconnect["cause"] == "hangup"


def test_the_phone_hears_every_sample_of_a_play_audio(
    server: RunningServer, app: Receiver, phone: BaresipPhone
) -> None:
    app.on("/media/tone.wav", Raw(tone_wav(2.0), content_type="audio/wav"))
    app.on("/initiate", Response([PlayAudio("/media/tone.wav"), Pause(1), Hangup()]).to_bxml())
    dial_in(phone, server)
    (disconnect,) = app.wait_events("disconnect", timeout=30)
    phone.wait_for("CALL_CLOSED")
    assert disconnect["cause"] == "hangup"

    samples = heard_samples(phone.received_recording())
    first, last = sound_span(samples, 1000)
    tone_from, tone_to = first / SAMPLE_RATE, last / SAMPLE_RATE
    assert 1.98 <= tone_to - tone_from <= 2.02  # the file's 2 s, to a 20 ms packet
    during = energy_windows(samples, tone_from, tone_to)
    assert len(during) >= 19 and min(during) > 3000, "the tone should be heard throughout"
    after = energy_windows(samples, tone_to + 0.05, tone_to + 0.8)
    assert len(after) >= 7 and max(after) < 100, "the Pause after the tone should be silence"
