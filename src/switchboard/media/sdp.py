"""SDP (RFC 4566) for one audio stream: our offer, and the media the peer's answer chose.

We offer PCMU (0), PCMA (8) and telephone-event (101) at 20 ms; the answer names the codec
(RFC 3264: the answerer lists the formats it accepts, in its order of preference), the address
and port to send RTP to, and whether it takes RFC 4733 DTMF. Only what RTP needs is parsed; the
rest of the answer (bandwidth, ICE, crypto lines) is ignored rather than rejected.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from switchboard.media.g711 import Codec

DTMF_PAYLOAD_TYPE = 101
_STATIC_CODECS: dict[int, Codec] = {0: "PCMU", 8: "PCMA"}
_CODEC_NAMES: dict[str, Codec] = {"PCMU": "PCMU", "PCMA": "PCMA"}


class SdpError(ValueError):
    """The peer's SDP can't be used: malformed, or no audio format in common with us."""


@dataclass(frozen=True, slots=True)
class MediaDescription:
    """Where and how to send the call's audio, as the peer's SDP answer says."""

    address: str
    port: int
    codec: Codec
    payload_type: int
    dtmf_payload_type: int | None


def build_offer(address: str, port: int, session_id: int) -> bytes:
    """Our SDP offer: G.711 µ-law and A-law with RFC 4733 DTMF, sending and receiving."""
    family = "IP6" if ipaddress.ip_address(address).version == 6 else "IP4"
    lines = [
        "v=0",
        f"o=switchboard {session_id} {session_id} IN {family} {address}",
        "s=switchboard",
        f"c=IN {family} {address}",
        "t=0 0",
        f"m=audio {port} RTP/AVP 0 8 {DTMF_PAYLOAD_TYPE}",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        f"a=rtpmap:{DTMF_PAYLOAD_TYPE} telephone-event/8000",
        f"a=fmtp:{DTMF_PAYLOAD_TYPE} 0-16",
        "a=ptime:20",
        "a=sendrecv",
    ]
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def _connection_address(line: str) -> str:
    # c=<nettype> <addrtype> <connection-address>[/ttl][/count]
    parts = line.split()
    if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
        raise SdpError(f"malformed connection line c={line!r}")
    address = parts[2].split("/", 1)[0]
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise SdpError(f"connection address {address!r} is not an IP address") from None
    return address


def parse_answer(sdp: bytes) -> MediaDescription:
    """The first audio stream of an SDP answer, with the first of its codecs that we support."""
    try:
        text = sdp.decode("utf-8")
    except UnicodeDecodeError:
        raise SdpError("SDP is not UTF-8 text") from None
    session_address: str | None = None
    media_address: str | None = None
    media: list[str] | None = None
    rtpmap: dict[int, str] = {}
    in_audio = False
    for raw in text.splitlines():
        line = raw.strip()
        if len(line) < 2 or line[1] != "=":
            continue
        kind, value = line[0], line[2:]
        if kind == "m":
            if media is not None:
                break  # only the first audio stream matters; a later m= ends it
            fields = value.split()
            in_audio = len(fields) >= 4 and fields[0] == "audio"
            if in_audio:
                media = fields
        elif kind == "c":
            if in_audio:
                media_address = _connection_address(value)
            elif media is None:
                session_address = _connection_address(value)
        elif kind == "a" and in_audio and value.startswith("rtpmap:"):
            type_text, _, encoding = value[len("rtpmap:") :].partition(" ")
            if type_text.isdigit():
                rtpmap[int(type_text)] = encoding.strip()
    if media is None:
        raise SdpError("SDP has no audio stream (m=audio)")
    port_field, profile, formats = media[1], media[2], media[3:]
    try:
        port = int(port_field.split("/", 1)[0])
    except ValueError:
        raise SdpError(f"malformed audio port {port_field!r}") from None
    if not 0 < port < 65536:
        raise SdpError(f"audio stream rejected or port invalid (port {port})")
    if "RTP/AVP" not in profile:
        raise SdpError(f"unsupported media profile {profile!r} (we speak RTP/AVP)")
    address = media_address or session_address
    if address is None:
        raise SdpError("SDP has no connection address (c=)")

    codec: Codec | None = None
    payload_type = -1
    dtmf: int | None = None
    for fmt in formats:
        if not fmt.isdigit():
            raise SdpError(f"malformed payload type {fmt!r} in m=audio")
        number = int(fmt)
        name, _, rate = rtpmap.get(number, "").partition("/")
        clock = rate.split("/", 1)[0]
        if codec is None:
            if name.upper() in _CODEC_NAMES and clock == "8000":
                codec, payload_type = _CODEC_NAMES[name.upper()], number
            elif not name and number in _STATIC_CODECS:
                codec, payload_type = _STATIC_CODECS[number], number
        if dtmf is None and name.lower() == "telephone-event" and clock == "8000":
            dtmf = number
    if codec is None:
        offered = " ".join(f"{f}({rtpmap.get(int(f), 'static')})" for f in formats) or "none"
        raise SdpError(f"no codec in common: peer answered {offered}; we support PCMU and PCMA")
    return MediaDescription(address, port, codec, payload_type, dtmf)
