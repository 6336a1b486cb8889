"""Our SDP answer to a caller's offer (RFC 3264 section 6), for calls that come in.

The offer's first audio stream is taken with the first of its codecs we speak (PCMU or PCMA,
in the caller's order of preference) and its telephone-event format if it has one, so RFC 4733
digits flow both ways with the caller's payload type. Every other stream (video, a second
audio) is declined with port 0, as RFC 3264 wants: the answer has as many m= lines as the offer,
in the same order.
"""

from __future__ import annotations

import ipaddress

from switchboard.media.sdp import MediaDescription, SdpError, parse_answer

__all__ = ["SdpError", "answer_offer"]


def answer_offer(
    offer: bytes, address: str, port: int, session_id: int
) -> tuple[MediaDescription, bytes]:
    """Where to send the caller's audio and how, and our answer. Raises SdpError when the offer
    has nothing we can use (no audio stream, no codec in common, unparsable)."""
    remote = parse_answer(offer)  # the first audio stream, its first codec we support
    family = "IP6" if ipaddress.ip_address(address).version == 6 else "IP4"
    lines = [
        "v=0",
        f"o=switchboard {session_id} {session_id} IN {family} {address}",
        "s=switchboard",
        f"c=IN {family} {address}",
        "t=0 0",
    ]
    accepted = False
    for fields in _media_lines(offer):
        if not accepted and len(fields) >= 4 and fields[0] == "audio":
            accepted = True
            lines += _audio(remote, port)
        else:
            # Declined: port 0, the offered formats kept (a media line needs one at least).
            rest = fields[2:] if len(fields) >= 4 else ["RTP/AVP", "0"]
            lines.append(f"m={fields[0]} 0 {' '.join(rest)}")
    return remote, ("\r\n".join(lines) + "\r\n").encode("ascii")


def _audio(remote: MediaDescription, port: int) -> list[str]:
    formats = [str(remote.payload_type)]
    if remote.dtmf_payload_type is not None:
        formats.append(str(remote.dtmf_payload_type))
    lines = [
        f"m=audio {port} RTP/AVP {' '.join(formats)}",
        f"a=rtpmap:{remote.payload_type} {remote.codec}/8000",
    ]
    if remote.dtmf_payload_type is not None:
        lines += [
            f"a=rtpmap:{remote.dtmf_payload_type} telephone-event/8000",
            f"a=fmtp:{remote.dtmf_payload_type} 0-16",
        ]
    return [*lines, "a=ptime:20", "a=sendrecv"]


def _media_lines(offer: bytes) -> list[list[str]]:
    """The fields of each m= line of the offer (already known to be UTF-8: parse_answer read
    it)."""
    media = []
    for raw in offer.decode("utf-8").splitlines():
        line = raw.strip()
        if line.startswith("m="):
            media.append(line[2:].split() or ["audio"])
    return media
