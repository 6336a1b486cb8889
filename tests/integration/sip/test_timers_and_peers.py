"""Timers, transport errors, and what the UA answers to requests, against real UDP sockets.

The tests run on virtual time (tests/support/virtual_loop.py): the UA's timers fire at their
exact times however loaded the machine is; the sockets are loopback ones, which deliver at once.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import AsyncIterator
from typing import cast

import pytest

from switchboard.sip import SipSettings, SipUserAgent
from switchboard.sip.messages import parse_message
from tests.integration.sip.recorder import Recorder, offer

pytestmark = pytest.mark.virtual_time


class Peer(asyncio.DatagramProtocol):
    """A bare UDP endpoint that keeps what it receives (and answers nothing by itself)."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[tuple[bytes, float]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.received.put_nowait((data, asyncio.get_running_loop().time()))

    async def next(self, seconds: float = 2.0) -> bytes:
        data, _ = await asyncio.wait_for(self.received.get(), seconds)
        return data


@pytest.fixture
async def peer() -> AsyncIterator[tuple[Peer, int]]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(Peer, local_addr=("127.0.0.1", 0))
    yield protocol, transport.get_extra_info("sockname")[1]
    transport.close()


def invite(ua: SipUserAgent, recorder: Recorder, target: str, **kwargs: object) -> str:
    call = ua.invite(
        target,
        from_user="+15555551212",
        display_name=None,
        sdp_offer=offer(),
        listener=recorder,
        **kwargs,  # type: ignore[arg-type]
    )
    return call.call_id


async def test_timer_b_reports_408_after_retransmitting(peer: tuple[Peer, int]) -> None:
    silent, port = peer
    ua = await SipUserAgent.start(SipSettings(local_port=0))  # RFC 3261's T1, in virtual time
    try:
        recorder = Recorder()
        invite(ua, recorder, f"sip:nobody@127.0.0.1:{port}")
        assert await recorder.result(60) == ("failed", 408, "Request Timeout")
        failed_at = asyncio.get_running_loop().time()
        times = []
        while not silent.received.empty():
            data, at = silent.received.get_nowait()
            assert data.startswith(b"INVITE ")
            times.append(at)
        # Timer A: 0.5, 1, 2, 4, 8, 16 s (doubling from T1) before Timer B at 64*T1: 7 copies.
        assert len(times) == 7
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert gaps == pytest.approx([0.5, 1, 2, 4, 8, 16])
        assert failed_at - times[0] == pytest.approx(32)
    finally:
        await ua.close()


async def test_nobody_listening_is_a_503_at_once() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    ua = await SipUserAgent.start(SipSettings(local_port=0))  # real T1: 408 would take 32 s
    try:
        recorder = Recorder()
        invite(ua, recorder, f"sip:nobody@127.0.0.1:{closed_port}")
        status = await recorder.result(2)
        assert status[:2] == ("failed", 503)
    finally:
        await ua.close()


async def test_privacy_and_custom_headers_on_the_wire(peer: tuple[Peer, int]) -> None:
    callee, port = peer
    ua = await SipUserAgent.start(SipSettings(local_port=0, from_domain="example.net"))
    try:
        call_id = invite(
            ua, Recorder(), f"sip:bob@127.0.0.1:{port}", privacy=True, headers={"X-Tag": "abc"}
        )
        request = parse_message(await callee.next())
        assert request.call_id == call_id
        assert request.from_address.uri.user == "anonymous"
        assert request.from_address.uri.host == "anonymous.invalid"
        assert request.from_address.name == "Anonymous"
        assert request.headers["Privacy"] == "id"
        assert request.headers["P-Asserted-Identity"] == "<sip:+15555551212@example.net>"
        assert request.headers["X-Tag"] == "abc"
        assert request.max_forwards == 70
        assert request.via[0].parameters["branch"].startswith("z9hG4bK")  # type: ignore[union-attr]
        assert "rport" in request.via[0].parameters
        assert request.headers["Content-Type"] == "application/sdp"
        assert request.user_agent == "Switchboard"
        assert "BYE" in (request.headers.get("Allow") or "")
        assert request.body == offer()
    finally:
        await ua.close(grace=0)


async def test_bad_targets_and_headers_are_value_errors() -> None:
    ua = await SipUserAgent.start(SipSettings(local_port=0))
    try:
        recorder = Recorder()
        for target in ["+15551234567", "tel:+15551234567", "sips:a@b", "sip:", "5551234"]:
            with pytest.raises(ValueError, match="cannot call"):
                invite(ua, recorder, target)
        with pytest.raises(ValueError, match="set by the user agent"):
            invite(ua, recorder, "sip:a@127.0.0.1", headers={"Call-ID": "x"})
        with pytest.raises(ValueError, match="single line"):
            invite(ua, recorder, "sip:a@127.0.0.1", headers={"X-A": "b\r\nVia: evil"})
        assert recorder.events == []
    finally:
        await ua.close(grace=0)


async def _exchange(peer: Peer, port: int, ua: SipUserAgent, message: bytes) -> bytes:
    assert peer.transport is not None
    peer.transport.sendto(message, ua.local_address)
    return await peer.next()


def _request(method: str, port: int, *, to_tag: str = "", branch: str = "z9hG4bKpeer1") -> bytes:
    return (
        f"{method} sip:switchboard@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch={branch}\r\n"
        f"From: <sip:peer@127.0.0.1>;tag=p1\r\n"
        f"To: <sip:switchboard@127.0.0.1>{to_tag}\r\n"
        f"Call-ID: unknown@127.0.0.1\r\n"
        f"CSeq: 1 {method}\r\n"
        f"Max-Forwards: 70\r\n"
        f"Content-Length: 0\r\n\r\n"
    ).encode()


async def test_requests_outside_any_call_and_garbage(peer: tuple[Peer, int]) -> None:
    remote, port = peer
    ua = await SipUserAgent.start(SipSettings(local_port=0))
    try:
        assert remote.transport is not None
        # Garbage is dropped (and logged); the UA keeps answering afterwards.
        for junk in [b"\x00\xff garbage", b"INVITE nonsense\r\n\r\n", b"\r\n\r\n"]:
            remote.transport.sendto(junk, ua.local_address)
        expected = {
            "OPTIONS": 200,
            "BYE": 481,
            "INFO": 481,
            "CANCEL": 481,
            "SUBSCRIBE": 501,
            "INVITE": 480,
        }
        for number, (method, status) in enumerate(expected.items()):
            answer = parse_message(
                await _exchange(remote, port, ua, _request(method, port, branch=f"z9hG4bK{number}"))
            )
            assert answer.code == status, method  # type: ignore[union-attr]
            assert answer.to_address.parameters.get("tag")
        # A retransmitted request gets the very same answer.
        first = await _exchange(remote, port, ua, _request("OPTIONS", port, branch="z9hG4bKr"))
        again = await _exchange(remote, port, ua, _request("OPTIONS", port, branch="z9hG4bKr"))
        assert first == again
        options = parse_message(first)
        assert "INVITE" in (options.headers.get("Allow") or "")
    finally:
        await ua.close(grace=0)
