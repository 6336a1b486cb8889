"""The pure parts of taking calls over SIP: who may call ([network.sip] inbound_sources and the
inbound digest credentials), what our SDP answer says, and what the INVITE tells the app."""

from __future__ import annotations

import ipaddress

import pytest
from sipmessage import Request

from switchboard.media.sdp import SdpError
from switchboard.network.sip import dialled_number, inbound_offer
from switchboard.sip.digest import DigestChallenge, DigestGuard, Verdict, authorization
from switchboard.sip.messages import parse_message
from switchboard.sip.offer_answer import answer_offer
from switchboard.sip.settings import SipConfigError, SipSettings, parse_sip_settings

# -- settings --------------------------------------------------------------------------------


def test_only_loopback_may_call_by_default() -> None:
    settings = parse_sip_settings({})
    assert settings.allows_source("127.0.0.1") and settings.allows_source("::1")
    assert not settings.allows_source("192.0.2.10")
    assert not settings.allows_source("127.0.0.2")
    assert (settings.inbound_username, settings.inbound_password) == (None, None)


def test_sources_are_addresses_or_networks() -> None:
    settings = parse_sip_settings({"inbound_sources": ["192.0.2.0/24", "198.51.100.7", "::1"]})
    assert settings.inbound_sources == (
        ipaddress.ip_network("192.0.2.0/24"),
        ipaddress.ip_network("198.51.100.7/32"),
        ipaddress.ip_network("::1/128"),
    )
    assert settings.allows_source("192.0.2.200") and settings.allows_source("198.51.100.7")
    assert not settings.allows_source("198.51.100.8") and not settings.allows_source("127.0.0.1")
    # A dual-stack socket shows an IPv4 caller as an IPv4-mapped IPv6 address.
    assert settings.allows_source("::ffff:192.0.2.1")
    assert not parse_sip_settings({"inbound_sources": []}).allows_source("127.0.0.1")
    assert not settings.allows_source("not an address")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"inbound_sources": "127.0.0.1"}, "inbound_sources must be a list of addresses"),
        ({"inbound_sources": [5060]}, r"inbound_sources\[0\] must be a string"),
        ({"inbound_sources": ["10.0.0.1/8"]}, r"inbound_sources\[0\] .* has host bits set"),
        ({"inbound_sources": ["127.0.0.1", "sip.example"]}, r"inbound_sources\[1\] must be an IP"),
        ({"inbound_username": "pbx"}, "inbound_username and network.sip.inbound_password"),
        ({"inbound_password": "x"}, "inbound_username and network.sip.inbound_password"),
        ({"inbound_username": 'p"bx', "inbound_password": "x"}, "must not contain quotes"),
        ({"inbound_username": "", "inbound_password": "x"}, "must be a non-empty string"),
    ],
)
def test_mistakes_are_named(table: dict[str, object], message: str) -> None:
    with pytest.raises(SipConfigError, match=message):
        parse_sip_settings(table)


# -- digest, the server side ------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def answer(guard: DigestGuard, password: str, *, user: str = "pbx", stale: bool = False) -> str:
    challenge = DigestChallenge.parse(guard.challenge(stale=stale))
    return authorization(
        challenge, username=user, password=password, method="INVITE", uri="sip:+1555@h"
    )


def test_the_guard_accepts_the_right_credentials_only() -> None:
    clock = Clock()
    guard = DigestGuard("pbx", "pbx-secret", "switchboard", lifetime=300, clock=clock)
    challenge = DigestChallenge.parse(guard.challenge())
    assert (challenge.realm, challenge.algorithm, challenge.qop) == (
        "switchboard",
        "MD5",
        ("auth",),
    )
    assert guard.check("INVITE", []) == (Verdict.MISSING, "no credentials for realm switchboard")
    assert guard.check("INVITE", [answer(guard, "pbx-secret")])[0] is Verdict.ACCEPTED
    assert guard.check("INVITE", [answer(guard, "guess")]) == (
        Verdict.REFUSED,
        "wrong user name or password",
    )
    assert guard.check("INVITE", [answer(guard, "pbx-secret", user="admin")])[0] is Verdict.REFUSED
    # Credentials for another realm are someone else's: as good as none.
    other = answer(DigestGuard("pbx", "pbx-secret", "elsewhere"), "pbx-secret")
    assert guard.check("INVITE", [other])[0] is Verdict.MISSING
    # Another method than the one answered for does not hash the same.
    assert guard.check("BYE", [answer(guard, "pbx-secret")])[0] is Verdict.REFUSED


def test_an_old_nonce_is_stale_and_a_forged_one_refused() -> None:
    clock = Clock()
    guard = DigestGuard("pbx", "pbx-secret", "switchboard", lifetime=300, clock=clock)
    credentials = answer(guard, "pbx-secret")
    clock.now += 301
    assert guard.check("INVITE", [credentials]) == (Verdict.STALE, "the nonce has expired")
    assert "stale=true" in guard.challenge(stale=True)
    # A nonce from another guard (another key: e.g. before a restart) was not issued by us.
    stranger = DigestGuard("pbx", "pbx-secret", "switchboard", clock=clock)
    assert guard.check("INVITE", [answer(stranger, "pbx-secret")]) == (
        Verdict.REFUSED,
        "a nonce we did not issue",
    )
    assert guard.check("INVITE", ['Digest realm="switchboard", nonce="1"'])[0] is Verdict.REFUSED
    assert guard.check("INVITE", ["Digest realm=switchboard, ,,"])[0] is Verdict.REFUSED


# -- our SDP answer ---------------------------------------------------------------------------

OFFER = (
    b"v=0\r\n"
    b"o=caller 1 1 IN IP4 192.0.2.5\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.5\r\n"
    b"t=0 0\r\n"
    b"m=video 5000 RTP/AVP 96\r\n"
    b"a=rtpmap:96 H264/90000\r\n"
    b"m=audio 4000 RTP/AVP 9 8 0 96\r\n"
    b"a=rtpmap:9 G722/8000\r\n"
    b"a=rtpmap:96 telephone-event/8000\r\n"
)


def test_the_answer_takes_the_callers_first_g711_codec_and_its_telephone_event() -> None:
    remote, sdp = answer_offer(OFFER, "127.0.0.1", 21000, 42)
    assert (remote.address, remote.port, remote.codec, remote.payload_type) == (
        "192.0.2.5",
        4000,
        "PCMA",
        8,
    )
    assert remote.dtmf_payload_type == 96
    lines = sdp.decode().split("\r\n")
    assert lines[:5] == [
        "v=0",
        "o=switchboard 42 42 IN IP4 127.0.0.1",
        "s=switchboard",
        "c=IN IP4 127.0.0.1",
        "t=0 0",
    ]
    # As many m= lines as the offer, in its order: the video declined with port 0.
    assert [line for line in lines if line.startswith("m=")] == [
        "m=video 0 RTP/AVP 96",
        "m=audio 21000 RTP/AVP 8 96",
    ]
    assert "a=rtpmap:8 PCMA/8000" in lines and "a=rtpmap:96 telephone-event/8000" in lines
    assert "a=fmtp:96 0-16" in lines and "a=sendrecv" in lines


def test_no_telephone_event_offered_none_answered() -> None:
    offer = OFFER.replace(b" 96\r\na=rtpmap:9", b"\r\na=rtpmap:9").replace(
        b"a=rtpmap:96 telephone-event/8000\r\n", b""
    )
    remote, sdp = answer_offer(offer, "::1", 21002, 1)
    assert remote.dtmf_payload_type is None
    assert b"telephone-event" not in sdp and b"c=IN IP6 ::1" in sdp


def test_an_offer_with_nothing_we_speak_is_an_sdp_error() -> None:
    with pytest.raises(SdpError, match="no codec in common"):
        answer_offer(OFFER.replace(b"9 8 0 96", b"9 96"), "127.0.0.1", 21000, 1)


# -- what the INVITE tells the application ----------------------------------------------------


@pytest.mark.parametrize(
    ("user", "number"),
    [
        ("+15555551212", "+15555551212"),
        ("15555551212", "+15555551212"),
        ("+1-555-555-1212", "+15555551212"),
        ("+15555551212;npdi", "+15555551212"),
        ("alice", None),
        ("0123", None),
        ("+1234567890123456", None),
        (None, None),
    ],
)
def test_the_dialled_number(user: str | None, number: str | None) -> None:
    assert dialled_number(user) == number


def incoming(headers: str) -> Request:
    request = parse_message(
        (
            "INVITE sip:15555551212@127.0.0.1 SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n"
            'From: "Caller" <sip:15555550123@127.0.0.1>;tag=1\r\n'
            "To: <sip:15555551212@127.0.0.1>\r\n"
            "Call-ID: abc@127.0.0.1\r\n"
            "CSeq: 1 INVITE\r\n"
            f"{headers}"
            "Content-Length: 0\r\n\r\n"
        ).encode()
    )
    assert isinstance(request, Request)
    return request


def test_the_offer_carries_uui_and_the_most_recent_diversion() -> None:
    request = incoming(
        "User-to-User: aGVsbG8;encoding=base64\r\n"
        "User-To-User: eyJhbGciOiJIUzI1NiJ9.e30.x;encoding=jwt\r\n"
        'Diversion: <sip:+15558884444@h>;reason=unavailable;privacy=off;x="a b"\r\n'
        "Diversion: <sip:+15557770000@h>;reason=no-answer\r\n"
    )
    offer = inbound_offer(request, "+15555551212")
    assert (offer.to, offer.from_, offer.sip_call_id) == (
        "+15555551212",
        "+15555550123",
        "abc@127.0.0.1",
    )
    assert offer.uui == "aGVsbG8;encoding=base64,eyJhbGciOiJIUzI1NiJ9.e30.x;encoding=jwt"
    assert offer.diversion == {
        "origTo": "+15558884444",
        "reason": "unavailable",
        "privacy": "off",
        "x": "a b",
    }


def test_no_uui_no_diversion_and_a_caller_who_is_no_number() -> None:
    request = incoming("")
    request.headers.set("From", "<sip:anonymous@anonymous.invalid>;tag=2")
    offer = inbound_offer(request, "+15555551212")
    assert (offer.from_, offer.uui, offer.diversion) == ("anonymous", None, None)
    too_long = incoming(f"User-to-User: {'a' * 300};encoding=hex\r\nDiversion: nonsense <\r\n")
    offer = inbound_offer(too_long, "+15555551212")
    assert (offer.uui, offer.diversion) == (None, None)


def test_default_settings_equal_the_parsed_defaults() -> None:
    assert parse_sip_settings({}) == SipSettings()
