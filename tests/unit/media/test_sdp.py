"""Our SDP offer, and reading the media a peer's answer chose."""

from __future__ import annotations

import pytest

from switchboard.media.sdp import MediaDescription, SdpError, build_offer, parse_answer

SIPP_ANSWER = (
    b"v=0\r\n"
    b"o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n"
    b"s=-\r\n"
    b"c=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\n"
    b"m=audio 6000 RTP/AVP 8 101\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-11,16\r\n"
)


def test_offer_lists_g711_and_telephone_event_at_20_ms() -> None:
    offer = build_offer("127.0.0.1", 40000, 1234).decode()
    lines = offer.split("\r\n")
    assert offer.endswith("\r\n")
    assert "c=IN IP4 127.0.0.1" in lines
    assert "o=switchboard 1234 1234 IN IP4 127.0.0.1" in lines
    assert "m=audio 40000 RTP/AVP 0 8 101" in lines
    for line in ("a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000"):
        assert line in lines
    assert "a=rtpmap:101 telephone-event/8000" in lines and "a=fmtp:101 0-16" in lines
    assert "a=ptime:20" in lines and "a=sendrecv" in lines
    assert parse_answer(offer.encode()) == MediaDescription("127.0.0.1", 40000, "PCMU", 0, 101)


def test_offer_over_ipv6() -> None:
    assert b"c=IN IP6 ::1\r\n" in build_offer("::1", 40000, 1)


def test_sipp_answer() -> None:
    assert parse_answer(SIPP_ANSWER) == MediaDescription("127.0.0.1", 6000, "PCMA", 8, 101)


def test_first_supported_codec_wins_and_static_types_need_no_rtpmap() -> None:
    sdp = b"v=0\nc=IN IP4 10.0.0.5\nt=0 0\nm=audio 7000 RTP/AVP 18 0 8\n"
    assert parse_answer(sdp) == MediaDescription("10.0.0.5", 7000, "PCMU", 0, None)


def test_dynamic_payload_types_and_media_level_connection() -> None:
    sdp = (
        b"v=0\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
        b"m=audio 7002 RTP/AVP 96 97\r\nc=IN IP4 192.0.2.9\r\n"
        b"a=rtpmap:96 pcma/8000\r\na=rtpmap:97 telephone-event/8000\r\n"
    )
    assert parse_answer(sdp) == MediaDescription("192.0.2.9", 7002, "PCMA", 96, 97)


def test_only_the_first_audio_stream_counts() -> None:
    sdp = SIPP_ANSWER + b"m=audio 6002 RTP/AVP 0\r\nc=IN IP4 10.9.9.9\r\n"
    assert parse_answer(sdp).port == 6000 and parse_answer(sdp).address == "127.0.0.1"


@pytest.mark.parametrize(
    ("sdp", "message"),
    [
        (b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 6000 RTP/AVP 9 18\r\n", "no codec in common"),
        (
            b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 6000 RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\n",
            "no codec in common",
        ),
        (b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=video 6000 RTP/AVP 96\r\n", "no audio stream"),
        (b"v=0\r\nm=audio 6000 RTP/AVP 0\r\n", "no connection address"),
        (b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 0 RTP/AVP 0\r\n", "rejected"),
        (b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio x RTP/AVP 0\r\n", "malformed audio port"),
        (b"v=0\r\nc=IN IP4 pbx.example\r\nm=audio 6000 RTP/AVP 0\r\n", "not an IP address"),
        (b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 6000 RTP/SAVP 0\r\n", "unsupported media profile"),
        (b"\xff\xfe", "not UTF-8"),
        (b"", "no audio stream"),
    ],
)
def test_unusable_answers_raise_sdp_error(sdp: bytes, message: str) -> None:
    with pytest.raises(SdpError, match=message):
        parse_answer(sdp)
