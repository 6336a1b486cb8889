"""Two real parties joined over SIP (docs/sip.md, "Rooms"): Switchboard relays each leg's RTP to
the other, so each hears the other and keys cross.

- <Transfer>: we call sipp, which talks (sipp's speech pcap, PCMA in 30 ms packets) and then
  presses 1 2 # (RFC 4733); the application transfers the call to baresip (PCMU), which
  records what it hears: sipp's speech, re-encoded, and the keys.
- <Bridge>: baresip dials in and waits; the application calls a second baresip (PCMA only),
  whose answer bridges the two calls. Each phone says a hum of its own pitch, and each
  recording holds the other's pitch; the keys each presses reach the other.
- <Forward>: baresip dials in and the call is forwarded to the second baresip: the same.

Audio is checked in the recordings themselves (their sound, its pitch, its envelope against
what was said), never by lining up Switchboard's timestamps with the phones' clocks."""

from __future__ import annotations

import math
import operator
import struct
import wave
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bandwidth.api.calls_api import CallsApi
from bandwidth.models.bxml import Bridge, Forward, Pause, Response, SipUri, Transfer

from switchboard.media import g711
from tests.e2e.control import calls_api_for
from tests.e2e.flow import create_call
from tests.e2e_sip.inbound import OUR_NUMBER, inbound_config, sip_port
from tests.e2e_sip.test_baresip import SAMPLE_RATE, heard_samples
from tests.e2e_sip.timeline import wait_for_timeline
from tests.support.baresip import BaresipPhone, start_baresip
from tests.support.receiver import Receiver
from tests.support.server import ACCOUNT_ID, PASSWORD, USERNAME, RunningServer, start_server
from tests.support.sipp import SippProcess, start_sipp

SPEECH_PCAP = Path("/usr/share/sip-tester/g711a.pcap")
CALLER_HUM = 300.0  # Hz: the phone that dials in (conftest's write_peer_audio)
AGENT_HUM = 700.0  # Hz: the phone we call
ENVELOPE = 80  # samples: the speech envelope's resolution, 10 ms


@pytest.fixture(scope="module")
def rooms_app() -> Iterator[Receiver]:
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, rooms_app: Receiver
) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("rooms"), inbound_config(rooms_app))
    yield running
    running.stop()


@pytest.fixture
def app(rooms_app: Receiver) -> Receiver:
    with rooms_app._lock:
        rooms_app.received.clear()
    rooms_app.routes.clear()
    return rooms_app


@pytest.fixture
def calls_api(server: RunningServer) -> Iterator[CallsApi]:
    with calls_api_for(server, USERNAME, PASSWORD) as api:
        yield api


@pytest.fixture
def switchboard(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, auth=(USERNAME, PASSWORD)) as client:
        yield client


@pytest.fixture
def sipp_callee(tmp_path: Path) -> Iterator[SippProcess]:
    process = start_sipp("uas_talk_then_keys.xml", tmp_path)
    yield process
    process.stop()


def hum_wav(path: Path, frequency: float, seconds: float, amplitude: int = 3000) -> Path:
    """What a phone says: a steady tone (baresip hangs up when the file ends)."""
    count = int(seconds * SAMPLE_RATE)
    samples = [
        int(amplitude * math.sin(2 * math.pi * frequency * n / SAMPLE_RATE)) for n in range(count)
    ]
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(struct.pack(f"<{count}h", *samples))
    return path


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[BaresipPhone]:
    """The phone we call for the bridge: PCMA only (the caller speaks PCMU: the relay
    re-encodes both ways), saying a 700 Hz hum for 6 s, then hanging up."""
    wav = hum_wav(tmp_path / "agent.wav", AGENT_HUM, 6.0)
    running = start_baresip(tmp_path / "agent", wav, codecs="PCMA/8000/1")
    yield running
    running.stop()


def pcap_speech() -> tuple[int, ...]:
    """sipp's speech pcap as PCM samples (Ethernet + IPv4 + UDP + RTP headers skipped)."""
    data = SPEECH_PCAP.read_bytes()
    offset, payload = 24, bytearray()
    while offset < len(data):
        length = struct.unpack_from("<I", data, offset + 8)[0]
        payload += data[offset + 16 + 42 + 12 : offset + 16 + length]
        offset += 16 + length
    pcm = g711.alaw_decode(bytes(payload))
    return struct.unpack(f"<{len(pcm) // 2}h", pcm)


def envelope(samples: tuple[int, ...]) -> list[float]:
    return [
        math.sqrt(sum(s * s for s in samples[i : i + ENVELOPE]) / ENVELOPE)
        for i in range(0, len(samples) - ENVELOPE + 1, ENVELOPE)
    ]


def best_match(needle: list[float], haystack: list[float]) -> float:
    """The highest Pearson correlation of `needle` with a stretch of `haystack`."""
    size = len(needle)
    mean = sum(needle) / size
    centred = [value - mean for value in needle]
    norm = math.sqrt(sum(value * value for value in centred))
    best = -1.0
    for start in range(len(haystack) - size + 1):
        window = haystack[start : start + size]
        window_mean = sum(window) / size
        spread = math.sqrt(sum((value - window_mean) ** 2 for value in window))
        if spread > 0:
            best = max(best, sum(map(operator.mul, centred, window)) / (norm * spread))
    return best


def tone_seconds(samples: tuple[int, ...], frequency: float, level: float) -> float:
    """How many seconds of 100 ms windows carry `frequency` at more than `level` (its
    amplitude) and most of their energy there: the other phone's hum, not noise or speech."""
    window = SAMPLE_RATE // 10
    cosines = [math.cos(2 * math.pi * frequency * n / SAMPLE_RATE) for n in range(window)]
    sines = [math.sin(2 * math.pi * frequency * n / SAMPLE_RATE) for n in range(window)]
    count = 0
    for start in range(0, len(samples) - window + 1, window):
        block = samples[start : start + window]
        real = sum(map(operator.mul, block, cosines))
        imaginary = sum(map(operator.mul, block, sines))
        amplitude = 2 * math.sqrt(real * real + imaginary * imaginary) / window
        energy = sum(map(operator.mul, block, block)) / window
        if amplitude > level and amplitude * amplitude / 2 > 0.8 * energy:
            count += 1
    return count / 10


def test_a_call_transferred_to_baresip_hears_the_callees_speech_and_keys(
    app: Receiver,
    calls_api: CallsApi,
    switchboard: httpx.Client,
    sipp_callee: SippProcess,
    phone: BaresipPhone,
) -> None:
    app.on("/answer", Response([Transfer([SipUri(phone.uri)])]).to_bxml())
    call_id = create_call(calls_api, app, sipp_callee.uri())
    joined = wait_for_timeline(switchboard, call_id, "transfer", event="joined", timeout=20)
    target = joined["callId"]

    # sipp's keys, pressed 10 s after it answered, reach baresip through the relay.
    pressed = phone.wait_for("CALL_DTMF_START", count=3, timeout=30)
    assert [event["param"] for event in pressed] == ["1", "2", "#"]
    phone.command("hangup")
    (disconnect,) = app.wait_events("disconnect", timeout=20)
    assert disconnect["callId"] == call_id and disconnect["cause"] == "hangup"
    assert sipp_callee.wait() == 0, sipp_callee.errors()  # it got our BYE when A ended
    phone.wait_for("CALL_CLOSED")
    wait_for_timeline(switchboard, target, "state", state="disconnected")
    target_state = calls_api.get_call_state(ACCOUNT_ID, target)
    assert (target_state.parent_call_id, target_state.disconnect_cause) == (call_id, "hangup")

    heard = heard_samples(phone.received_recording())
    said = pcap_speech()
    # The phone heard sipp's speech: seconds of sound, and its loudness rises and falls as
    # the pcap's does (2 s of its envelope found in the recording's).
    loud = sum(1 for level in envelope(heard) if level > 300) * ENVELOPE / SAMPLE_RATE
    assert loud > 3.0, f"only {loud:.1f} s of sound in what baresip heard"
    match = best_match(envelope(said[2 * SAMPLE_RATE : 4 * SAMPLE_RATE]), envelope(heard))
    assert match > 0.9, f"the recording's envelope matches sipp's speech at {match:.2f} only"


def test_a_bridge_joins_a_caller_and_an_agent_both_ways(
    server: RunningServer,
    app: Receiver,
    calls_api: CallsApi,
    switchboard: httpx.Client,
    phone: BaresipPhone,
    agent: BaresipPhone,
) -> None:
    app.on("/initiate", Response([Pause(duration=60)]).to_bxml())  # the caller waits
    phone.command("dial", f"sip:{OUR_NUMBER}@127.0.0.1:{sip_port(server)}")
    (initiate,) = app.wait_events("initiate", timeout=20)
    caller = initiate["callId"]
    wait_for_timeline(switchboard, caller, "verb", verb="Pause", event="started")

    app.on("/agent", Response([Bridge(caller)]).to_bxml())
    owner = create_call(calls_api, app, agent.uri, answer="/agent")
    wait_for_timeline(switchboard, owner, "bridge", event="joined", callId=caller)
    phone.command("sndcode", "5")
    agent.command("sndcode", "8")
    (to_agent,) = agent.wait_for("CALL_DTMF_START", timeout=15)
    (to_caller,) = phone.wait_for("CALL_DTMF_START", timeout=15)
    assert (to_agent["param"], to_caller["param"]) == ("5", "8")

    # The agent's file ends 6 s after it answered: it hangs up, the bridge ends, and the
    # caller's call (no bridgeTargetComplete URL) hangs up too.
    causes = {e["callId"]: e["cause"] for e in app.wait_events("disconnect", count=2, timeout=30)}
    assert causes == {owner: "hangup", caller: "hangup"}
    phone.wait_for("CALL_CLOSED")
    agent.wait_for("CALL_CLOSED")

    caller_heard = heard_samples(phone.received_recording())
    agent_heard = heard_samples(agent.received_recording())
    # Each heard the other's hum for most of the bridge (about 5 s), and never its own.
    assert tone_seconds(caller_heard, AGENT_HUM, 1500) >= 2.0
    assert tone_seconds(agent_heard, CALLER_HUM, 300) >= 2.0
    assert tone_seconds(caller_heard, CALLER_HUM, 100) == 0
    assert tone_seconds(agent_heard, AGENT_HUM, 100) == 0


def test_a_forwarded_call_joins_the_caller_and_the_forward_target(
    server: RunningServer,
    app: Receiver,
    switchboard: httpx.Client,
    phone: BaresipPhone,
    agent: BaresipPhone,
) -> None:
    """<Forward>: the call's second leg (no callId of its own) is relayed to the first."""
    app.on("/initiate", Response([Forward(to=agent.uri)]).to_bxml())
    phone.command("dial", f"sip:{OUR_NUMBER}@127.0.0.1:{sip_port(server)}")
    (initiate,) = app.wait_events("initiate", timeout=20)
    wait_for_timeline(switchboard, initiate["callId"], "forward", event="joined")
    agent.command("sndcode", "3")
    (to_caller,) = phone.wait_for("CALL_DTMF_START", timeout=15)
    assert to_caller["param"] == "3"

    # The target's file ends 6 s after it answered: it hangs up, and so does the call.
    (disconnect,) = app.wait_events("disconnect", timeout=30)
    assert (disconnect["callId"], disconnect["cause"]) == (initiate["callId"], "hangup")
    phone.wait_for("CALL_CLOSED")
    agent.wait_for("CALL_CLOSED")
    assert tone_seconds(heard_samples(phone.received_recording()), AGENT_HUM, 1500) >= 2.0
    assert tone_seconds(heard_samples(agent.received_recording()), CALLER_HUM, 300) >= 2.0
