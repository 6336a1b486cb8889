"""SIP message parsing and building on top of sipmessage, plus the identifiers RFC 3261 needs.

sipmessage parses the start line and headers and gives typed accessors (Via, CSeq, Address,
URI); this module adds what a datagram needs before and after: unfolding continuation lines,
honouring Content-Length, checking the headers every message must carry, and copying headers
verbatim into responses (RFC 3261 8.2.6.2 wants them copied, not re-serialised).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable

from sipmessage import URI, Address, Message, Request, Response, Via

# RFC 3261 8.1.1.7: a branch starting with this cookie marks an RFC 3261 transaction id.
BRANCH_COOKIE = "z9hG4bK"
ALLOWED_METHODS = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO"
MANDATORY_HEADERS = ("Via", "From", "To", "Call-ID", "CSeq")
# Line folding (RFC 3261 7.3.1): a CRLF followed by whitespace continues the previous header.
_FOLD = re.compile(rb"\r\n[ \t]+")
REASONS = {
    100: "Trying",
    180: "Ringing",
    183: "Session Progress",
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    420: "Bad Extension",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    603: "Decline",
}


class SipParseError(ValueError):
    """Bytes that are not a SIP message we can act on."""


def new_branch() -> str:
    return BRANCH_COOKIE + secrets.token_hex(10)


def new_tag() -> str:
    return secrets.token_hex(8)


def new_call_id(host: str) -> str:
    return f"{secrets.token_hex(16)}@{host}"


def is_keepalive(data: bytes) -> bool:
    """RFC 5626 keep-alives are bare CRLFs; they are not messages."""
    return not data.strip(b"\r\n")


def parse_message(data: bytes) -> Request | Response:
    """Parse one whole message (one datagram, or one framed stream message)."""
    head, separator, body = data.partition(b"\r\n\r\n")
    if not separator:
        raise SipParseError("no blank line after the headers")
    head = _FOLD.sub(b" ", head)
    try:
        message = Message.parse(head + b"\r\n\r\n" + body)
    except (ValueError, IndexError) as error:
        raise SipParseError(f"unparseable message: {error}") from None
    for name in MANDATORY_HEADERS:
        if message.headers.get(name) is None:
            raise SipParseError(f"missing {name} header")
    try:
        cseq = message.cseq
        via = message.via
        message.from_address  # noqa: B018 - parsed only to reject malformed ones early
        message.to_address  # noqa: B018
        length = message.content_length
    except ValueError as error:
        raise SipParseError(f"malformed header: {error}") from None
    if not via:
        raise SipParseError("empty Via")
    if isinstance(message, Request) and cseq.method != message.method and message.method != "ACK":
        # ACK carries its own method in CSeq too; anything else mismatching is malformed.
        raise SipParseError(f"CSeq method {cseq.method} does not match {message.method}")
    if isinstance(message, Request) and message.method == "ACK" and cseq.method != "ACK":
        raise SipParseError("ACK with a CSeq method other than ACK")
    if length is not None:
        # RFC 3261 18.3: bytes past Content-Length are discarded; fewer means a truncated message.
        if length < 0 or len(message.body) < length:
            raise SipParseError("body shorter than Content-Length")
        message.body = message.body[:length]
    return message


def top_branch(message: Message) -> str:
    params = message.via[0].parameters
    return params.get("branch") or ""


def tag_of(address: Address) -> str | None:
    return address.parameters.get("tag")


def make_request(
    method: str, uri: URI | str, headers: Iterable[tuple[str, str]], body: bytes = b""
) -> Request:
    request = Request(method, URI.parse(uri) if isinstance(uri, str) else uri, body)
    for name, value in headers:
        request.headers.add(name, value)
    request.headers.set("Content-Length", str(len(body)))
    return request


def make_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
) -> Response:
    """A response to `request` with Via, From, To, Call-ID and CSeq copied verbatim."""
    response = Response(status, reason or REASONS.get(status, "Unknown"), body)
    for name in ("Via", "From", "To", "Call-ID", "CSeq"):
        for value in request.headers.getlist(name):
            response.headers.add(name, value)
    if to_tag is not None and tag_of(request.to_address) is None:
        response.headers.set("To", request.headers["To"] + f";tag={to_tag}")
    for name, value in headers:
        response.headers.add(name, value)
    response.headers.set("Content-Length", str(len(body)))
    return response


def via_value(transport: str, host: str, port: int, branch: str) -> str:
    """Our Via: rport (RFC 3581) asks the peer to answer where the request came from."""
    return f"SIP/2.0/{transport.upper()} {_host_for_uri(host)}:{port};branch={branch};rport"


def response_address(request: Request, source: tuple[str, int]) -> tuple[str, int]:
    """Where a response to `request` goes (RFC 3261 18.2.2 with RFC 3581 rport)."""
    via: Via = request.via[0]
    # With rport the peer asks to be answered where the request came from (NAT friendly);
    # otherwise the source IP and the port of sent-by, as 18.2.2 says for unreliable unicast.
    if "rport" in via.parameters:
        return source
    return source[0], via.port or 5060


def sdp_body(message: Message) -> bytes | None:
    """The body if it is an SDP session description (RFC 3264 offer or answer)."""
    if not message.body:
        return None
    content_type = (message.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    return message.body if content_type == "application/sdp" else None


def uri_host_port(uri: URI) -> tuple[str, int]:
    """Where a request to `uri` is sent: its host and port (no NAPTR/SRV; RFC 3263 is not
    implemented, so a trunk is named by host:port)."""
    host = uri.host[1:-1] if uri.host.startswith("[") else uri.host
    return host, uri.port or 5060


def _host_for_uri(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
