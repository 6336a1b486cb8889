"""Parsing what peers send and building what we answer."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sipmessage import Request, Response

from switchboard.sip.dialog import Dialog
from switchboard.sip.messages import (
    SipParseError,
    is_keepalive,
    make_request,
    make_response,
    new_branch,
    parse_message,
    response_address,
    sdp_body,
    top_branch,
)
from switchboard.sip.transport import StreamFramer

BYE = (
    b"BYE sip:switchboard@127.0.0.1:5060 SIP/2.0\r\n"
    b"v: SIP/2.0/UDP 10.0.0.2:5070;branch=z9hG4bKabc;rport\r\n"
    b"f: <sip:callee@10.0.0.2>;tag=remote\r\n"
    b"t: <sip:+15555551212@10.0.0.1>\r\n"
    b"  ;tag=local\r\n"
    b"i: call-1@10.0.0.2\r\n"
    b"CSeq: 7 BYE\r\n"
    b"l: 4\r\n"
    b"\r\n"
    b"bodyEXTRA"
)


def test_parses_compact_and_folded_headers_and_honours_content_length() -> None:
    message = parse_message(BYE)
    assert isinstance(message, Request)
    assert message.method == "BYE"
    assert message.call_id == "call-1@10.0.0.2"
    assert message.to_address.parameters["tag"] == "local"
    assert top_branch(message) == "z9hG4bKabc"
    assert message.body == b"body"  # bytes past Content-Length are discarded (18.3)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"garbage", "blank line"),
        (BYE.replace(b"CSeq: 7 BYE\r\n", b""), "CSeq"),
        (BYE.replace(b"CSeq: 7 BYE", b"CSeq: 7 INVITE"), "does not match"),
        (BYE.replace(b"l: 4", b"l: 400"), "shorter than Content-Length"),
        (BYE.replace(b"CSeq: 7 BYE", b"CSeq: seven BYE"), "malformed"),
        (b"HELLO world\r\n\r\n", "unparseable"),
        (b"SIP/2.0 200 OK\r\nVia: nonsense\r\n\r\n", "missing From"),
    ],
)
def test_malformed_messages_are_parse_errors(data: bytes, why: str) -> None:
    with pytest.raises(SipParseError, match=why):
        parse_message(data)


@given(st.binary(max_size=300))
def test_no_bytes_raise_anything_but_a_parse_error(data: bytes) -> None:
    with contextlib.suppress(SipParseError):
        parse_message(data)


@given(st.integers(min_value=0, max_value=len(BYE)))
def test_truncated_messages_never_raise_anything_else(cut: int) -> None:
    with contextlib.suppress(SipParseError):
        parse_message(BYE[:cut])


def test_response_copies_headers_verbatim_and_adds_a_to_tag() -> None:
    request = parse_message(BYE.replace(b"\r\n  ;tag=local", b""))
    assert isinstance(request, Request)
    response = parse_message(bytes(make_response(request, 200, to_tag="mine")))
    assert isinstance(response, Response)
    assert (response.code, response.phrase) == (200, "OK")
    assert response.headers["Via"] == request.headers["Via"]
    assert response.to_address.parameters["tag"] == "mine"
    assert response.cseq.method == "BYE"
    assert response.content_length == 0


def test_responses_follow_rport_else_the_via_port() -> None:
    request = parse_message(BYE)
    assert isinstance(request, Request)
    assert response_address(request, ("192.0.2.9", 40000)) == ("192.0.2.9", 40000)
    plain = parse_message(BYE.replace(b";rport", b""))
    assert isinstance(plain, Request)
    assert response_address(plain, ("192.0.2.9", 40000)) == ("192.0.2.9", 5070)


def test_built_requests_round_trip() -> None:
    branch = new_branch()
    assert branch.startswith("z9hG4bK") and len(branch) > 16
    request = make_request(
        "INVITE",
        "sip:+15551234567@trunk.example.net",
        [
            ("Via", f"SIP/2.0/UDP 127.0.0.1:5060;branch={branch};rport"),
            ("From", '"Alice" <sip:+15555551212@example.net>;tag=t'),
            ("To", "<sip:+15551234567@trunk.example.net>"),
            ("Call-ID", "c@h"),
            ("CSeq", "1 INVITE"),
            ("Content-Type", "application/sdp"),
        ],
        b"v=0\r\n",
    )
    parsed = parse_message(bytes(request))
    assert isinstance(parsed, Request)
    assert str(parsed.uri) == "sip:+15551234567@trunk.example.net"
    assert top_branch(parsed) == branch
    assert sdp_body(parsed) == b"v=0\r\n"
    assert parsed.from_address.name == "Alice"


def test_keepalives_are_not_messages() -> None:
    assert is_keepalive(b"\r\n\r\n") and is_keepalive(b"\r\n")
    assert not is_keepalive(BYE)


def test_stream_framing_by_content_length() -> None:
    framer = StreamFramer()
    stream = b"\r\n\r\n" + BYE[:-5] + BYE[:-5]  # two messages with 4-byte bodies, after a ping
    assert framer.feed(stream[:10]) == []
    messages = framer.feed(stream[10:])
    assert messages == [BYE[:-5], BYE[:-5]]
    with pytest.raises(SipParseError):
        StreamFramer().feed(b"x" * (70 * 1024))


def _response_200(record_route: str) -> Response:
    response = parse_message(
        b"SIP/2.0 200 OK\r\n"
        b"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx\r\n"
        b"From: <sip:a@127.0.0.1>;tag=ours\r\n"
        b"To: <sip:b@192.0.2.1>;tag=theirs\r\n"
        b"Call-ID: c@h\r\n"
        b"CSeq: 1 INVITE\r\n"
        b"Contact: <sip:b@192.0.2.1:5080>\r\n"
        + record_route.encode()
        + b"Content-Length: 0\r\n\r\n"
    )
    assert isinstance(response, Response)
    return response


def _invite() -> Request:
    return make_request(
        "INVITE",
        "sip:b@192.0.2.1",
        [
            ("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx"),
            ("From", "<sip:a@127.0.0.1>;tag=ours"),
            ("To", "<sip:b@192.0.2.1>"),
            ("Call-ID", "c@h"),
            ("CSeq", "1 INVITE"),
        ],
    )


def test_dialog_uses_the_reversed_record_route_with_loose_routing() -> None:
    response = _response_200(
        "Record-Route: <sip:p2.example.net;lr>, <sip:p1.example.net:5070;lr>\r\n"
    )
    dialog = Dialog.from_2xx(_invite(), response)
    assert dialog.next_hop() == ("p1.example.net", 5070)
    bye = dialog.request("BYE", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKy")
    assert str(bye.uri) == "sip:b@192.0.2.1:5080"
    assert [str(route.uri) for route in bye.route] == [
        "sip:p1.example.net:5070;lr",
        "sip:p2.example.net;lr",
    ]
    assert bye.cseq.sequence == 2
    ack = dialog.ack(1, "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKz")
    assert str(ack.cseq) == "1 ACK"
    assert ack.to_address.parameters["tag"] == "theirs"


def test_dialog_with_a_strict_router_puts_the_target_last() -> None:
    dialog = Dialog.from_2xx(_invite(), _response_200("Record-Route: <sip:strict.example.net>\r\n"))
    bye = dialog.request("BYE", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKy")
    assert str(bye.uri) == "sip:strict.example.net"
    assert [str(route.uri) for route in bye.route] == ["sip:b@192.0.2.1:5080"]
    assert dialog.next_hop() == ("strict.example.net", 5060)


def test_dialog_without_routes_goes_to_the_contact() -> None:
    dialog = Dialog.from_2xx(_invite(), _response_200(""))
    assert dialog.next_hop() == ("192.0.2.1", 5080)
    assert dialog.request("BYE", "SIP/2.0/UDP h:1;branch=z9hG4bKq").route == []
