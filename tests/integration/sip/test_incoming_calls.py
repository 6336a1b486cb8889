"""Calls that come in, at the user agent: what a caller on a real UDP socket is answered, and
RFC 3261's timers for it (200 until the ACK, Timer G/H for refusals, the BYE that ends an answer
never acknowledged), CANCEL, BYE, re-INVITE, and who may call (source list, digest).

The tests run on virtual time (tests/support/virtual_loop.py): the timers fire at their exact
times however loaded the machine is, on loopback sockets that deliver at once.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import cast

import pytest
from sipmessage import Request, Response

from switchboard.sip import IncomingCall, SipSettings, SipUserAgent
from switchboard.sip.digest import DigestChallenge, authorization
from switchboard.sip.messages import parse_message
from tests.integration.sip.recorder import offer

pytestmark = pytest.mark.virtual_time

ANSWER = b"v=0\r\no=switchboard 1 1 IN IP4 127.0.0.1\r\ns=switchboard\r\n"


class Caller(asyncio.DatagramProtocol):
    """A bare UDP phone: sends what the test writes, keeps what it receives (with when)."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[tuple[bytes, float]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        self.port = self.transport.get_extra_info("sockname")[1]

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.received.put_nowait((data, asyncio.get_running_loop().time()))

    async def next(self, seconds: float = 60.0) -> Request | Response:
        data, _ = await asyncio.wait_for(self.received.get(), seconds)
        return parse_message(data)

    async def response(self, seconds: float = 60.0) -> Response:
        message = await self.next(seconds)
        assert isinstance(message, Response), message
        return message

    def drain(self) -> list[tuple[Request | Response, float]]:
        found = []
        while not self.received.empty():
            data, at = self.received.get_nowait()
            found.append((parse_message(data), at))
        return found

    def send(self, text: str, ua: SipUserAgent) -> None:
        assert self.transport is not None
        self.transport.sendto(text.encode(), ua.local_address)


@dataclass
class Taken:
    """The calls the user agent hands over, and what it tells each one's listener."""

    calls: list[IncomingCall] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    then: Callable[[IncomingCall], None] = lambda call: call.ring()

    def __call__(self, call: IncomingCall) -> None:
        self.calls.append(call)
        call.listener = self  # type: ignore[assignment]
        self.then(call)

    def on_cancelled(self) -> None:
        self.events.append("cancelled")

    def on_remote_bye(self) -> None:
        self.events.append("bye")

    def on_unacknowledged(self) -> None:
        self.events.append("unacknowledged")


@pytest.fixture
async def caller() -> AsyncIterator[Caller]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(Caller, local_addr=("127.0.0.1", 0))
    yield protocol
    transport.close()


@pytest.fixture
def taken() -> Taken:
    return Taken()


@pytest.fixture
async def ua(taken: Taken) -> AsyncIterator[SipUserAgent]:
    agent = await SipUserAgent.start(SipSettings(local_port=0), on_invite=taken)
    yield agent
    await agent.close(grace=0)


def invite(
    caller: Caller,
    *,
    branch: str = "z9hG4bKc1",
    method: str = "INVITE",
    cseq: int = 1,
    to_tag: str = "",
    body: bytes | None = None,
    extra: str = "",
) -> str:
    body = offer() if body is None and method == "INVITE" else (body or b"")
    content_type = "Content-Type: application/sdp\r\n" if body else ""
    return (
        f"{method} sip:+15555551212@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{caller.port};branch={branch}\r\n"
        f"From: <sip:+15555550123@127.0.0.1>;tag=caller1\r\n"
        f"To: <sip:+15555551212@127.0.0.1>{to_tag}\r\n"
        f"Call-ID: incoming-1@127.0.0.1\r\n"
        f"CSeq: {cseq} {method}\r\n"
        f"Contact: <sip:+15555550123@127.0.0.1:{caller.port}>\r\n"
        f"Max-Forwards: 70\r\n"
        f"{extra}"
        f"{content_type}"
        f"Content-Length: {len(body)}\r\n\r\n"
    ) + body.decode()


def ack(caller: Caller, to_tag: str, *, branch: str = "z9hG4bKack", cseq: int = 1) -> str:
    return invite(caller, method="ACK", branch=branch, cseq=cseq, to_tag=f";tag={to_tag}")


def to_tag(response: Response) -> str:
    tag = response.to_address.parameters.get("tag")
    assert tag
    return tag


async def ringing(caller: Caller, ua: SipUserAgent) -> Response:
    """Dial; return the 180 after the 100."""
    caller.send(invite(caller), ua)
    assert (await caller.response()).code == 100
    ring = await caller.response()
    assert ring.code == 180
    return ring


async def test_the_answer_is_sent_again_until_the_ack(
    caller: Caller, ua: SipUserAgent, taken: Taken
) -> None:
    ring = await ringing(caller, ua)
    assert ring.contact and ring.contact[0].uri.port == ua.local_address[1]
    loop = asyncio.get_running_loop()
    taken.calls[0].answer(ANSWER)
    first = await caller.response()
    answered_at = loop.time()
    assert (first.code, first.body, to_tag(first)) == (200, ANSWER, to_tag(ring))
    assert first.headers["Content-Type"] == "application/sdp"
    # 13.3.1.4: again at T1, then doubling (0.5 s, 1 s, 2 s apart) until the ACK comes.
    again = []
    for _ in range(3):
        assert (await caller.response()).code == 200
        again.append(loop.time() - answered_at)
    assert again == pytest.approx([0.5, 1.5, 3.5])
    caller.send(ack(caller, to_tag(first)), ua)
    await asyncio.sleep(40)  # past 64*T1: nothing more comes
    assert caller.drain() == []
    assert taken.calls[0].confirmed

    # The caller hangs up: 200 to its BYE, and the listener hears it.
    caller.send(
        invite(caller, method="BYE", cseq=2, branch="z9hG4bKbye", to_tag=f";tag={to_tag(first)}"),
        ua,
    )
    assert (await caller.response()).code == 200
    await asyncio.sleep(0)
    assert taken.events == ["bye"]


async def test_the_retransmissions_of_the_answer_keep_rfc_3261s_pace(
    caller: Caller, ua: SipUserAgent, taken: Taken
) -> None:
    """No ACK ever: the 200 goes at 0, 0.5, 1.5, 3.5, then every T2 (4 s); at 64*T1 (32 s)
    the call is ended with a BYE to the caller's Contact, and the listener is told."""
    await ringing(caller, ua)
    start = asyncio.get_running_loop().time()
    taken.calls[0].answer(ANSWER)
    bye = None
    times = []
    while bye is None:
        message = await caller.next()
        at = asyncio.get_running_loop().time() - start
        if isinstance(message, Response):
            assert message.code == 200
            times.append(at)
        else:
            bye = (message, at)
    assert times == pytest.approx([0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5])
    request, at = bye
    assert request.method == "BYE" and at == pytest.approx(32)
    assert request.uri.port == caller.port  # the INVITE's Contact
    assert request.from_address.parameters.get("tag") == taken.calls[0].dialog.local_tag  # type: ignore[union-attr]
    assert request.to_address.parameters.get("tag") == "caller1"
    await asyncio.sleep(0)
    assert taken.events == ["unacknowledged"]


async def test_a_refusal_is_sent_again_until_the_ack(
    caller: Caller, ua: SipUserAgent, taken: Taken
) -> None:
    taken.then = lambda call: call.reject(404, '+15555551212 is "not" a number')
    caller.send(invite(caller), ua)
    assert (await caller.response()).code == 100
    refusal = await caller.response()
    assert refusal.code == 404 and refusal.phrase == "Not Found"
    assert refusal.headers["Warning"] == '399 127.0.0.1 "+15555551212 is \\"not\\" a number"'
    assert (await caller.response()).code == 404  # Timer G: at T1
    # The ACK of a refusal is on the INVITE's branch (17.1.1.3): it stops Timer G.
    caller.send(ack(caller, to_tag(refusal), branch="z9hG4bKc1"), ua)
    await asyncio.sleep(40)
    assert caller.drain() == []
    assert taken.events == []


async def test_cancel_while_it_rings_is_200_then_487(
    caller: Caller, ua: SipUserAgent, taken: Taken
) -> None:
    ring = await ringing(caller, ua)
    caller.send(invite(caller, method="CANCEL"), ua)  # same branch as the INVITE (9.1)
    cancelled = await caller.response()
    assert (cancelled.code, cancelled.cseq.method) == (200, "CANCEL")
    terminated = await caller.response()
    assert (terminated.code, terminated.cseq.method) == (487, "INVITE")
    assert to_tag(terminated) == to_tag(ring)
    caller.send(ack(caller, to_tag(terminated), branch="z9hG4bKc1"), ua)
    await asyncio.sleep(0)
    assert taken.events == ["cancelled"]
    # Once ended, answering does nothing.
    taken.calls[0].answer(ANSWER)
    await asyncio.sleep(40)
    assert caller.drain() == []


async def test_a_bye_before_the_answer_gives_the_call_up(
    caller: Caller, ua: SipUserAgent, taken: Taken
) -> None:
    """RFC 3261 15: a caller may BYE an early dialog; the INVITE then gets 487."""
    ring = await ringing(caller, ua)
    bye = invite(caller, method="BYE", cseq=2, branch="z9hG4bKbye", to_tag=f";tag={to_tag(ring)}")
    caller.send(bye, ua)
    answers = {(r.code, r.cseq.method) for r in [await caller.response(), await caller.response()]}
    assert answers == {(200, "BYE"), (487, "INVITE")}
    await asyncio.sleep(0)
    assert taken.events == ["cancelled"]


async def test_a_retransmitted_invite_gets_the_latest_response(
    caller: Caller, ua: SipUserAgent, taken: Taken
) -> None:
    await ringing(caller, ua)
    caller.send(invite(caller), ua)
    assert (await caller.response()).code == 180
    caller.send(invite(caller, branch="z9hG4bKother"), ua)  # the same call by another path
    assert (await caller.response()).code == 482
    assert len(taken.calls) == 1


async def test_a_reinvite_gets_the_same_sdp(caller: Caller, ua: SipUserAgent, taken: Taken) -> None:
    await ringing(caller, ua)
    taken.calls[0].answer(ANSWER)
    answer = await caller.response()
    caller.send(ack(caller, to_tag(answer)), ua)
    reinvite = invite(caller, cseq=2, branch="z9hG4bKre", to_tag=f";tag={to_tag(answer)}")
    caller.send(reinvite, ua)
    again = await caller.response()
    assert (again.code, again.cseq.sequence, again.body) == (200, 2, ANSWER)
    caller.send(ack(caller, to_tag(answer), branch="z9hG4bKack2", cseq=2), ua)
    await asyncio.sleep(40)
    assert caller.drain() == []


async def test_a_second_invite_while_it_rings_is_500_retry_after(
    caller: Caller, ua: SipUserAgent
) -> None:
    ring = await ringing(caller, ua)
    caller.send(invite(caller, cseq=2, branch="z9hG4bKre", to_tag=f";tag={to_tag(ring)}"), ua)
    busy = await caller.response()
    assert (busy.code, busy.headers["Retry-After"]) == (500, "1")


async def test_our_hangup_before_the_answer_declines_and_after_it_byes(
    caller: Caller, ua: SipUserAgent, taken: Taken
) -> None:
    await ringing(caller, ua)
    taken.calls[0].hangup()
    declined = await caller.response()
    assert declined.code == 603 and "before answering" in declined.headers["Warning"]


async def test_an_extension_we_do_not_support_is_420(caller: Caller, ua: SipUserAgent) -> None:
    caller.send(invite(caller, extra="Require: 100rel, timer\r\n"), ua)
    refused = await caller.response()
    assert (refused.code, refused.headers["Unsupported"]) == (420, "100rel, timer")


async def test_closing_refuses_the_calls_still_ringing(caller: Caller, taken: Taken) -> None:
    ua = await SipUserAgent.start(SipSettings(local_port=0), on_invite=taken)
    await ringing(caller, ua)
    await ua.close(grace=0)
    refused = await caller.response()
    assert refused.code == 503 and "shutting down" in refused.headers["Warning"]


async def test_a_source_not_in_the_list_is_403(caller: Caller, taken: Taken) -> None:
    allowed = (ipaddress.ip_network("192.0.2.0/24"),)
    ua = await SipUserAgent.start(
        SipSettings(local_port=0, inbound_sources=allowed), on_invite=taken
    )
    try:
        caller.send(invite(caller), ua)
        refused = await caller.response()
        assert refused.code == 403
        assert refused.headers["Warning"] == '399 127.0.0.1 "calls from 127.0.0.1 are not accepted"'
        assert taken.calls == []
    finally:
        await ua.close(grace=0)


async def test_digest_challenge_then_the_right_and_a_wrong_password(
    caller: Caller, taken: Taken
) -> None:
    settings = SipSettings(local_port=0, inbound_username="pbx", inbound_password="pbx-secret")
    ua = await SipUserAgent.start(settings, on_invite=taken)
    try:
        caller.send(invite(caller), ua)
        challenged = await caller.response()
        assert challenged.code == 401 and taken.calls == []
        challenge = DigestChallenge.parse(challenged.headers["WWW-Authenticate"])
        assert (challenge.realm, challenge.algorithm, challenge.qop) == (
            "switchboard",
            "MD5",
            ("auth",),
        )

        def credentials(password: str) -> str:
            value = authorization(
                challenge,
                username="pbx",
                password=password,
                method="INVITE",
                uri="sip:+15555551212@127.0.0.1",
            )
            return f"Authorization: {value}\r\n"

        wrong = invite(caller, cseq=2, branch="z9hG4bKc2", extra=credentials("guess"))
        caller.send(wrong, ua)
        refused = await caller.response()
        assert refused.code == 403 and "wrong user name or password" in refused.headers["Warning"]
        right = invite(caller, cseq=3, branch="z9hG4bKc3", extra=credentials("pbx-secret"))
        caller.send(right, ua)
        assert (await caller.response()).code == 100
        assert (await caller.response()).code == 180
        assert len(taken.calls) == 1
    finally:
        await ua.close(grace=0)


async def test_without_a_handler_every_invite_is_480(caller: Caller) -> None:
    ua = await SipUserAgent.start(SipSettings(local_port=0))
    try:
        caller.send(invite(caller), ua)
        refused = await caller.response()
        assert (refused.code, refused.phrase) == (480, "Incoming Calls Not Accepted")
    finally:
        await ua.close(grace=0)


async def test_a_bye_before_the_ack_stops_the_answer_going_again(
    caller: Caller, ua: SipUserAgent, taken: Taken
) -> None:
    await ringing(caller, ua)
    taken.calls[0].answer(ANSWER)
    answer = await caller.response()
    bye = invite(caller, method="BYE", cseq=2, branch="z9hG4bKbye", to_tag=f";tag={to_tag(answer)}")
    caller.send(bye, ua)
    ok = await caller.response()
    assert (ok.code, ok.cseq.method) == (200, "BYE")
    await asyncio.sleep(40)  # neither the 200 again nor a BYE of ours
    assert caller.drain() == []
    assert taken.events == ["bye"]
