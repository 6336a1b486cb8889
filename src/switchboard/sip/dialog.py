"""A dialog (RFC 3261 12): the state an INVITE and its answer establish, on the UAC side (a 2xx
to our INVITE, 12.1.2) or the UAS side (an INVITE we answer, 12.1.1), and the requests (ACK,
BYE) it lets us send, routed by its route set."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sipmessage import URI, Address, Request, Response

from switchboard.sip.messages import make_request, tag_of, uri_host_port


@dataclass
class Dialog:
    call_id: str
    local_tag: str
    remote_tag: str
    from_header: str  # our From, with our tag, verbatim from the INVITE
    to_header: str  # the peer's To, with its tag, verbatim from the 2xx
    remote_target: URI
    route_set: list[Address] = field(default_factory=list)
    local_cseq: int = 1
    remote_cseq: int | None = None

    @classmethod
    def from_2xx(cls, invite: Request, response: Response) -> Dialog:
        contacts = response.contact
        # A 2xx must carry a Contact; without one the best target left is the request URI.
        remote_target = contacts[0].uri if contacts else invite.uri
        return cls(
            call_id=invite.call_id,
            local_tag=tag_of(invite.from_address) or "",
            remote_tag=tag_of(response.to_address) or "",
            from_header=invite.headers["From"],
            to_header=response.headers["To"],
            remote_target=remote_target,
            # The UAC's route set is the 2xx's Record-Route in reverse order (12.1.2).
            route_set=list(reversed(response.record_route)),
            local_cseq=invite.cseq.sequence,
        )

    @classmethod
    def from_invite(cls, invite: Request, local_tag: str) -> Dialog:
        """The callee's side of the dialog an INVITE we answer (with To tag `local_tag`)
        creates (12.1.1)."""
        contacts = invite.contact
        return cls(
            call_id=invite.call_id,
            local_tag=local_tag,
            remote_tag=tag_of(invite.from_address) or "",
            # In requests we send, From is the INVITE's To (with our tag), To its From.
            from_header=f"{invite.headers['To']};tag={local_tag}",
            to_header=invite.headers["From"],
            remote_target=contacts[0].uri if contacts else invite.from_address.uri,
            # The UAS's route set is the INVITE's Record-Route in order (12.1.1).
            route_set=list(invite.record_route),
            local_cseq=0,
            remote_cseq=invite.cseq.sequence,
        )

    def matches(self, request: Request) -> bool:
        """Whether an incoming request belongs to this dialog (12.2.2: Call-ID and tags)."""
        return (
            request.call_id == self.call_id
            and tag_of(request.to_address) == self.local_tag
            and tag_of(request.from_address) == self.remote_tag
        )

    def next_hop(self) -> tuple[str, int]:
        """Where in-dialog requests go: the first route, else the remote target (12.2.1.1)."""
        if self.route_set:
            return uri_host_port(self.route_set[0].uri)
        return uri_host_port(self.remote_target)

    def ack(self, cseq: int, via: str, extra: Iterable[tuple[str, str]] = ()) -> Request:
        """The ACK for a 2xx: a new transaction, same CSeq number as the INVITE (13.2.2.4)."""
        return self._request("ACK", cseq, via, extra)

    def request(
        self, method: str, via: str, extra: Iterable[tuple[str, str]] = (), body: bytes = b""
    ) -> Request:
        """A new in-dialog request (BYE...), with the next local CSeq number."""
        self.local_cseq += 1
        return self._request(method, self.local_cseq, via, extra, body)

    def _request(
        self,
        method: str,
        cseq: int,
        via: str,
        extra: Iterable[tuple[str, str]],
        body: bytes = b"",
    ) -> Request:
        request_uri, routes = self._request_uri_and_routes()
        headers = [
            ("Via", via),
            ("Max-Forwards", "70"),
            ("From", self.from_header),
            ("To", self.to_header),
            ("Call-ID", self.call_id),
            ("CSeq", f"{cseq} {method}"),
        ]
        headers += [("Route", route) for route in routes]
        headers += list(extra)
        return make_request(method, request_uri, headers, body)

    def _request_uri_and_routes(self) -> tuple[URI, list[str]]:
        if not self.route_set:
            return self.remote_target, []
        first = self.route_set[0]
        if "lr" in first.uri.parameters:
            return self.remote_target, [str(route) for route in self.route_set]
        # A strict router (RFC 2543) wants itself as the Request-URI and the real target last.
        rest = [str(route) for route in self.route_set[1:]]
        return first.uri, [*rest, f"<{self.remote_target}>"]
