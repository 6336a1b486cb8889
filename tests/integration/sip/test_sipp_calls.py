"""Calls from the user agent to real sipp callees on 127.0.0.1.

sipp exiting 0 means its scenario completed: every ACK, CANCEL and BYE it waits for arrived,
and every header it checks was right. A wrong or missing message makes it exit non-zero.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvloop

from switchboard.sip import OutgoingCall, SipSettings, SipUserAgent
from tests.integration.sip.conftest import FAST, PASSWORD, USERNAME
from tests.integration.sip.recorder import Recorder, offer
from tests.support.sipp import run_sipp

pytestmark = pytest.mark.usefixtures("sipp")
FROM = "+15555551212"


def place(ua: SipUserAgent, recorder: Recorder, target: str, port: int = 40000) -> OutgoingCall:
    with recorder.calling_the_api():
        return ua.invite(
            target,
            from_user=FROM,
            display_name="Switchboard",
            sdp_offer=offer(port),
            listener=recorder,
        )


async def test_answered_call_ended_by_our_bye(ua: SipUserAgent, tmp_path: Path) -> None:
    async with run_sipp("uas_answer_expect_bye.xml", tmp_path, extra=["-trace_msg"]) as sipp:
        recorder = Recorder()
        call = place(ua, recorder, sipp.uri)
        status, early_sdp = await asyncio.wait_for(recorder.progressed, 10)
        assert status == 183
        assert early_sdp is not None and b"m=audio" in early_sdp
        kind, sdp = await recorder.result()
        assert kind == "answered"
        assert isinstance(sdp, bytes) and b"m=audio" in sdp and b"PCMU" in sdp
        with recorder.calling_the_api():
            call.hangup()
            call.hangup()  # ended: a no-op
        assert await sipp.wait() == 0, sipp.errors()
        # The Call-ID we report is the one on the wire.
        log = sipp.messages()
        assert call.call_id and f"Call-ID: {call.call_id}" in log
        assert recorder.finals() == [("answered", sdp)]


@pytest.mark.parametrize(
    ("scenario", "status", "reason"),
    [("uas_busy.xml", 486, "Busy Here"), ("uas_decline.xml", 603, "Decline")],
)
async def test_rejected_call_is_reported_and_acked(
    ua: SipUserAgent, tmp_path: Path, scenario: str, status: int, reason: str
) -> None:
    async with run_sipp(scenario, tmp_path) as sipp:
        recorder = Recorder()
        place(ua, recorder, sipp.uri)
        assert await recorder.result() == ("failed", status, reason)
        assert await sipp.wait() == 0, sipp.errors()  # it got our ACK
        assert recorder.finals() == [("failed", status, reason)]


async def test_ringing_call_cancelled(ua: SipUserAgent, tmp_path: Path) -> None:
    async with run_sipp("uas_ring_noanswer.xml", tmp_path) as sipp:
        recorder = Recorder()
        call = place(ua, recorder, sipp.uri)
        assert await asyncio.wait_for(recorder.progressed, 10) == (180, None)
        with recorder.calling_the_api():
            call.cancel()
        assert await recorder.result() == ("failed", 487, "Request Terminated")
        assert await sipp.wait() == 0, sipp.errors()  # CANCEL, then ACK for the 487
        with recorder.calling_the_api():
            call.hangup()  # ended: a no-op
        assert recorder.finals() == [("failed", 487, "Request Terminated")]


async def test_cancel_before_any_provisional_waits_for_one(
    ua: SipUserAgent, tmp_path: Path
) -> None:
    async with run_sipp("uas_ring_noanswer.xml", tmp_path) as sipp:
        recorder = Recorder()
        call = place(ua, recorder, sipp.uri)
        with recorder.calling_the_api():
            call.hangup()  # before anything came back: CANCEL goes once the 180 arrives
        assert await recorder.result() == ("failed", 487, "Request Terminated")
        assert await sipp.wait() == 0, sipp.errors()
        assert [event[0] for event in recorder.events] == ["failed"]


async def test_answer_crossing_our_cancel_is_acked_and_byed(
    ua: SipUserAgent, tmp_path: Path
) -> None:
    async with run_sipp("uas_answer_despite_cancel.xml", tmp_path) as sipp:
        recorder = Recorder()
        call = place(ua, recorder, sipp.uri)
        await asyncio.wait_for(recorder.progressed, 10)
        with recorder.calling_the_api():
            call.cancel()
        assert await recorder.result() == ("failed", 487, "Request Terminated")
        assert await sipp.wait() == 0, sipp.errors()  # it got the ACK and the BYE


async def test_digest_401_then_answer(ua: SipUserAgent, tmp_path: Path) -> None:
    async with run_sipp("uas_auth_401.xml", tmp_path) as sipp:
        recorder = Recorder()
        call = place(ua, recorder, sipp.uri)
        outcome = await recorder.result()
        assert outcome[0] == "answered", outcome
        with recorder.calling_the_api():
            call.hangup()
        assert await sipp.wait() == 0, sipp.errors()  # sipp verified our Authorization


async def test_e164_through_the_proxy_with_407(tmp_path: Path) -> None:
    async with run_sipp("uas_auth_407.xml", tmp_path, extra=["-trace_msg"]) as sipp:
        settings = SipSettings(
            local_port=0, proxy=sipp.address, username=USERNAME, password=PASSWORD
        )
        ua = await SipUserAgent.start(settings, timers=FAST)
        try:
            recorder = Recorder()
            call = place(ua, recorder, "+15551234567")
            outcome = await recorder.result()
            assert outcome[0] == "answered", outcome
            with recorder.calling_the_api():
                call.hangup()
            assert await sipp.wait() == 0, sipp.errors()
        finally:
            await ua.close()
    # sipp 3.6 cannot verify Proxy-Authorization: recompute RFC 2069's response from its log.
    log = sipp.messages()
    header = re.search(r"Proxy-Authorization: Digest (.*)", log)
    assert header is not None, log
    fields = dict(re.findall(r'(\w+)="([^"]*)"', header.group(1)))
    ha1 = md5(f"{USERNAME}:trunk.switchboard.test:{PASSWORD}")
    ha2 = md5(f"INVITE:{fields['uri']}")
    assert fields["uri"].startswith("sip:+15551234567@127.0.0.1:")
    assert fields["response"] == md5(f"{ha1}:a1b2c3d4e5f6:{ha2}")


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


async def test_wrong_password_fails_with_the_peers_status(tmp_path: Path) -> None:
    async with run_sipp("uas_auth_401.xml", tmp_path) as sipp:
        ua = await SipUserAgent.start(
            SipSettings(local_port=0, username=USERNAME, password="wrong"), timers=FAST
        )
        try:
            recorder = Recorder()
            place(ua, recorder, sipp.uri)
            assert await recorder.result() == ("failed", 403, "Forbidden")
            assert await sipp.wait() != 0  # the scenario fails the call on bad credentials
        finally:
            await ua.close()


async def test_challenge_without_credentials_is_a_failure(tmp_path: Path) -> None:
    async with run_sipp("uas_auth_401.xml", tmp_path) as sipp:
        ua = await SipUserAgent.start(SipSettings(local_port=0), timers=FAST)
        try:
            recorder = Recorder()
            place(ua, recorder, sipp.uri)
            assert await recorder.result() == ("failed", 401, "Unauthorized")
        finally:
            await ua.close()


async def test_reinvite_options_info_then_the_peer_hangs_up(
    ua: SipUserAgent, tmp_path: Path
) -> None:
    async with run_sipp("uas_reinvite_options.xml", tmp_path) as sipp:
        recorder = Recorder()
        call = place(ua, recorder, sipp.uri)
        kind, _ = await recorder.result()
        assert kind == "answered"
        await asyncio.wait_for(recorder.hung_up, 10)
        assert await sipp.wait() == 0, sipp.errors()  # 200s with our SDP, Allow; BYE answered
        with recorder.calling_the_api():
            call.hangup()  # already ended by the peer: a no-op
        assert [event[0] for event in recorder.events] == ["answered", "remote_bye"]


class Media(asyncio.DatagramProtocol):
    """What arrives at the media address of our offer: PCMA packets counted, RFC 4733 events
    read as the digits pressed."""

    KEYS = "0123456789*#"

    def __init__(self) -> None:
        self.audio_packets = 0
        self._events: list[tuple[bytes, int]] = []  # (RTP timestamp, event) of each packet
        self.pound: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        payload_type = data[1] & 0x7F
        if payload_type == 8:
            self.audio_packets += 1
        elif payload_type == 101:
            event = data[12]
            self._events.append((data[4:8], event))
            if self.KEYS[event] == "#" and not self.pound.done():
                self.pound.set_result(None)

    @property
    def digits(self) -> str:
        """One digit per key press: an event's packets (its updates and the end packet sent
        three times) share one RTP timestamp; a new press starts a new one."""
        presses = [item for n, item in enumerate(self._events) if self._events[n - 1 : n] != [item]]
        return "".join(self.KEYS[event] for _, event in presses)


@contextlib.asynccontextmanager
async def media_sink() -> AsyncIterator[tuple[Media, int]]:
    loop = asyncio.get_running_loop()
    transport, media = await loop.create_datagram_endpoint(Media, local_addr=("127.0.0.1", 0))
    try:
        yield media, transport.get_extra_info("sockname")[1]
    finally:
        transport.close()


@pytest.mark.slow
async def test_callee_hangs_up_after_audio_and_dtmf(ua: SipUserAgent, tmp_path: Path) -> None:
    """sipp sends 6 s of PCMA audio, then the digits 1, 2, # to our offer's media address, then
    hangs up: all of it arrives, and the call ends with its BYE."""
    async with media_sink() as (media, port), run_sipp("uas_answer_then_bye.xml", tmp_path) as sipp:
        recorder = Recorder()
        place(ua, recorder, sipp.uri, port)
        assert (await recorder.result())[0] == "answered"
        await asyncio.wait_for(recorder.hung_up, 15)
        assert await sipp.wait() == 0, sipp.errors()
        assert [event[0] for event in recorder.events] == ["progress", "answered", "remote_bye"]
        assert media.digits == "12#"
        assert media.audio_packets > 100  # over 2 s of 20 ms packets (g711a.pcap: about 4 s)


@pytest.mark.slow
async def test_answered_call_sends_audio_and_dtmf_to_our_offer(
    ua: SipUserAgent, tmp_path: Path
) -> None:
    """The media address in our SDP offer is where sipp's RTP goes; we hang up after '#'."""
    async with media_sink() as (media, port), run_sipp("uas_answer_dtmf.xml", tmp_path) as sipp:
        recorder = Recorder()
        call = place(ua, recorder, sipp.uri, port)
        assert (await recorder.result())[0] == "answered"
        await asyncio.wait_for(media.pound, 15)
        assert media.digits == "12#"
        assert media.audio_packets > 100
        with recorder.calling_the_api():
            call.hangup()
        assert await sipp.wait() == 0, sipp.errors()


async def test_tcp_transport(tmp_path: Path) -> None:
    async with run_sipp("uas_answer_expect_bye.xml", tmp_path, transport="tcp") as sipp:
        ua = await SipUserAgent.start(SipSettings(local_port=0, transport="tcp"), timers=FAST)
        try:
            recorder = Recorder()
            call = place(ua, recorder, sipp.uri)
            assert (await recorder.result())[0] == "answered"
            with recorder.calling_the_api():
                call.hangup()
            assert await sipp.wait() == 0, sipp.errors()
        finally:
            await ua.close()


def test_busy_on_uvloop(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with run_sipp("uas_busy.xml", tmp_path) as sipp:
            ua = await SipUserAgent.start(SipSettings(local_port=0), timers=FAST)
            try:
                recorder = Recorder()
                place(ua, recorder, sipp.uri)
                assert await recorder.result() == ("failed", 486, "Busy Here")
                assert await sipp.wait() == 0, sipp.errors()
            finally:
                await ua.close()

    uvloop.run(scenario())
