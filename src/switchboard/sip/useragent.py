"""The SIP user agent: one socket, the calls placed through it, the calls it takes, and the
requests peers send.

Start it with `await SipUserAgent.start(settings, on_invite=...)`, place calls with
`invite(...)` (each reports to its CallListener), end them with `OutgoingCall.hangup()`, and
`await close()` at shutdown. An INVITE from a source `[network.sip] inbound_sources` allows
(and with the inbound digest credentials, when configured) is answered 100 and handed to
`on_invite` as an IncomingCall; without `on_invite` every INVITE is answered 480.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
import socket
from collections.abc import Callable, Mapping
from typing import Any

from sipmessage import URI, Address, Parameters, Request, Response

from switchboard.sip.call import CallListener, CallState, OutgoingCall
from switchboard.sip.digest import DigestGuard, DigestSession, Verdict
from switchboard.sip.incoming import IncomingCall, warning
from switchboard.sip.messages import (
    ALLOWED_METHODS,
    make_response,
    new_call_id,
    new_tag,
    response_address,
    tag_of,
    top_branch,
    uri_host_port,
    via_value,
)
from switchboard.sip.session import DialogCall
from switchboard.sip.settings import SipSettings
from switchboard.sip.transactions import ClientTransaction, ServerResponses, State, Timers
from switchboard.sip.transport import SipTransport, open_transport
from switchboard.webhooks.guard import refuse_outside_loopback

__all__ = ["CallListener", "IncomingCall", "InviteHandler", "OutgoingCall", "SipUserAgent"]

log = logging.getLogger("switchboard.sip")

Address_ = tuple[str, int]
# Takes a new incoming call (already answered 100 Trying): it must ring, answer or reject it.
InviteHandler = Callable[[IncomingCall], None]
# Refused sources are logged once each, up to this many (a flood must not flood the log).
WARNED_SOURCES_LIMIT = 1024
E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
# RFC 3261 token: what a header name may be made of.
HEADER_NAME = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~]+$")
# Headers the user agent writes itself; letting callers set them would break the protocol.
RESERVED_HEADERS = frozenset(
    name.lower()
    for name in (
        "Via",
        "From",
        "To",
        "Call-ID",
        "CSeq",
        "Contact",
        "Content-Length",
        "Content-Type",
        "Max-Forwards",
        "Authorization",
        "Proxy-Authorization",
        "Route",
    )
)


class SipUserAgent:
    """A UAC and UAS on one UDP (or TCP) socket; implements the CallHost a call needs."""

    def __init__(
        self, settings: SipSettings, timers: Timers, on_invite: InviteHandler | None = None
    ) -> None:
        self.settings = settings
        self.timers = timers
        self.user_agent = settings.user_agent
        self._loop = asyncio.get_running_loop()
        self._transport: SipTransport | None = None
        self._transactions: dict[tuple[str, str], ClientTransaction] = {}
        self._destinations: dict[ClientTransaction, Address_] = {}
        self._calls: dict[str, OutgoingCall] = {}
        self._incoming: dict[str, IncomingCall] = {}
        self._on_invite = on_invite
        self._guard: DigestGuard | None = None
        if settings.inbound_username is not None and settings.inbound_password is not None:
            self._guard = DigestGuard(
                settings.inbound_username,
                settings.inbound_password,
                realm=settings.from_domain or "switchboard",
            )
        self._warned_sources: set[str] = set()
        self._server = ServerResponses(timers)
        self._tasks: set[asyncio.Task[None]] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._resolved: dict[str, str] = {}
        self._advertised: str | None = None
        self._closed = False

    @classmethod
    async def start(
        cls,
        settings: SipSettings,
        *,
        timers: Timers | None = None,
        on_invite: InviteHandler | None = None,
    ) -> SipUserAgent:
        """Bind the socket. `timers` shortens RFC 3261's T1/T2/T4 (tests use it); `on_invite`
        takes the calls that come in (None: they are all answered 480)."""
        self = cls(settings, timers or Timers(), on_invite)
        self._transport = await open_transport(
            settings.transport, settings.local_host, settings.local_port, self
        )
        self._advertised = self._advertised_host()
        log.info(
            "SIP user agent on %s %s:%d",
            self._transport.name,
            *self._transport.local_address,
        )
        return self

    @property
    def advertised_host(self) -> str:
        """The address peers reach us at (Via, Contact; the SDP's c= line too)."""
        return self._advertised or self.local_address[0]

    @property
    def reliable(self) -> bool:
        return self._transport is not None and self._transport.reliable

    @property
    def local_address(self) -> tuple[str, int]:
        assert self._transport is not None
        return self._transport.local_address

    # -- placing calls -------------------------------------------------------------------

    def invite(
        self,
        target: str,
        *,
        from_user: str,
        display_name: str | None,
        sdp_offer: bytes,
        listener: CallListener,
        privacy: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> OutgoingCall:
        """Call `target`: a sip: URI (sent directly) or an E.164 number (sent to the proxy)."""
        if self._closed or self._transport is None:
            raise RuntimeError("the SIP user agent is closed")
        request_uri = self._request_uri(target)
        extra = _checked_headers(headers or {})
        if display_name is not None and any(c in display_name for c in "\r\n\0"):
            raise ValueError("display_name must be a single line")
        host = self.settings.from_domain or self._advertised or self.local_address[0]
        tag = new_tag()
        try:
            identity = Address(
                uri=URI(scheme="sip", host=_uri_host(host), user=from_user),
                name=display_name or "",
            )
            str(URI.parse(str(identity.uri)))  # rejects users that make no valid URI
        except ValueError:
            raise ValueError(f"from_user {from_user!r} does not make a valid SIP URI") from None
        if privacy:
            # RFC 3323/3325: an anonymous From, the real identity asserted for the trunk only.
            shown = Address(
                uri=URI(scheme="sip", host="anonymous.invalid", user="anonymous"),
                name="Anonymous",
                parameters=Parameters(tag=tag),
            )
            extra = [("Privacy", "id"), ("P-Asserted-Identity", str(identity)), *extra]
        else:
            shown = Address(uri=identity.uri, name=identity.name, parameters=Parameters(tag=tag))
        call = OutgoingCall(
            self,
            call_id=new_call_id(self._advertised or "switchboard.invalid"),
            request_uri=request_uri,
            from_header=str(shown),
            to_header=f"<{request_uri}>",
            destination=uri_host_port(request_uri),
            sdp_offer=sdp_offer,
            listener=listener,
            extra_headers=extra,
            auth=self._digest_session(),
        )
        self._calls[call.call_id] = call
        if _is_ip(call._destination[0]):
            call.send_invite()
        else:
            # A name is resolved first; a cancel() meanwhile stops the INVITE from leaving.
            self._spawn(self._begin(call))
        return call

    def _request_uri(self, target: str) -> URI:
        if E164.match(target):
            proxy = self.settings.proxy_address
            if proxy is None:
                raise ValueError(
                    f"cannot call {target}: E.164 numbers go through [network.sip] proxy, "
                    "and none is configured"
                )
            return URI(scheme="sip", host=_uri_host(proxy[0]), user=target, port=proxy[1])
        if target.lower().startswith("sips:"):
            raise ValueError(f"cannot call {target}: sips: (TLS) is not supported")
        if not target.lower().startswith("sip:"):
            raise ValueError(f"cannot call {target!r}: expected a sip: URI or an E.164 number")
        try:
            return URI.parse(target)
        except ValueError:
            raise ValueError(f"cannot call {target!r}: not a valid sip: URI") from None

    def _digest_session(self) -> DigestSession | None:
        if self.settings.username is None or self.settings.password is None:
            return None
        return DigestSession(self.settings.username, self.settings.password)

    async def _begin(self, call: OutgoingCall) -> None:
        host, port = call._destination
        try:
            address = await self._resolve(host)
        except OSError as error:
            log.warning("cannot resolve %s for call %s: %s", host, call.call_id, error)
            if call.state is CallState.CALLING:
                call.state = CallState.ENDED
                self.forget(call)
                self.report(call._listener.on_failed, 503, f"Service Unavailable ({host}: {error})")
            return
        call._destination = (address, port)
        call.send_invite()

    # -- CallHost: what calls use ----------------------------------------------------------

    def start_transaction(
        self,
        kind: type[ClientTransaction],
        request: Request,
        destination: Address_,
        on_response: Callable[[Response], None],
        on_failure: Callable[[int], None],
    ) -> ClientTransaction:
        assert self._transport is not None
        tx = kind(
            request,
            send=lambda data: self.send(data, destination),
            reliable=self._transport.reliable,
            timers=self.timers,
            on_response=on_response,
            on_failure=on_failure,
            on_terminated=self._transaction_terminated,
        )
        self._transactions[tx.key] = tx
        self._destinations[tx] = destination
        log.debug("sending %s %s to %s:%d", request.method, request.uri, *destination)
        tx.start()
        return tx

    def _transaction_terminated(self, tx: ClientTransaction) -> None:
        if self._transactions.get(tx.key) is tx:
            del self._transactions[tx.key]
        self._destinations.pop(tx, None)

    def send(self, data: bytes, destination: Address_) -> None:
        if self._transport is None:
            return
        host, port = destination
        if _is_ip(host):
            self._transport.send(data, destination)
        elif host in self._resolved:
            self._transport.send(data, (self._resolved[host], port))
        else:
            self._spawn(self._resolve_and_send(data, host, port))

    async def _resolve_and_send(self, data: bytes, host: str, port: int) -> None:
        try:
            address = await self._resolve(host)
        except OSError as error:
            log.warning("cannot resolve %s: %s", host, error)
            return
        if self._transport is not None:
            self._transport.send(data, (address, port))

    async def _resolve(self, host: str) -> str:
        """A name to an address (A/AAAA only: RFC 3263 NAPTR/SRV lookups are not done)."""
        if _is_ip(host):
            return host
        if host in self._resolved:
            return self._resolved[host]
        refuse_outside_loopback(host, "resolve")  # the test suite's guard; a no-op otherwise
        family = socket.AF_INET6 if ":" in self.local_address[0] else socket.AF_INET
        infos = await self._loop.getaddrinfo(host, None, family=family, type=socket.SOCK_DGRAM)
        if not infos:
            raise OSError(f"no address for {host}")
        address = str(infos[0][4][0])
        self._resolved[host] = address
        return address

    def via(self, branch: str) -> str:
        assert self._transport is not None
        host = self._advertised or self.local_address[0]
        return via_value(self._transport.name, host, self.local_address[1], branch)

    def contact(self) -> str:
        assert self._transport is not None
        host = _uri_host(self._advertised or self.local_address[0])
        suffix = ";transport=tcp" if self._transport.name == "TCP" else ""
        return f"<sip:{host}:{self.local_address[1]}{suffix}>"

    def report(self, callback: Callable[..., None], *args: Any) -> None:
        """Run a listener callback on its own turn of the loop (never re-entrantly)."""

        def run() -> None:
            if not self._closed:
                callback(*args)

        self._loop.call_soon(run)

    def call_later(self, delay: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        def run() -> None:
            self._timers.discard(handle)
            callback()

        handle = self._loop.call_later(delay, run)
        self._timers.add(handle)
        return handle

    def forget(self, call: DialogCall) -> None:
        """An ended call stays matchable for 64*T1, so late BYEs, 2xx and ACKs still find it."""

        def drop() -> None:
            if isinstance(call, IncomingCall):
                if self._incoming.get(call.call_id) is call:
                    del self._incoming[call.call_id]
            elif self._calls.get(call.call_id) is call:
                del self._calls[call.call_id]

        self.call_later(self.timers.b, drop)

    def _spawn(self, coroutine: Any) -> None:
        task: asyncio.Task[None] = self._loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- TransportHandler: what arrives ------------------------------------------------

    def on_message(self, message: Request | Response, source: Address_) -> None:
        if self._closed:
            return
        if isinstance(message, Response):
            self._on_response(message, source)
        else:
            self._on_request(message, source)

    def on_transport_error(self, destination: Address_, error: OSError) -> None:
        log.info("SIP transport error towards %s:%d: %s", *destination, error)
        for tx, where in list(self._destinations.items()):
            if where == destination:
                tx.transport_failed()

    def _on_response(self, response: Response, source: Address_) -> None:
        key = (top_branch(response), response.cseq.method)
        log.debug(
            "received %d %s for %s from %s:%d", response.code, response.phrase, key[1], *source
        )
        tx = self._transactions.get(key)
        if tx is not None:
            tx.receive(response)
            return
        call = self._calls.get(response.call_id)
        if call is not None and key[1] == "INVITE" and 200 <= response.code < 300:
            # A 2xx after its transaction ended (e.g. the CANCEL guard gave up): still ACK it.
            call.on_late_2xx(response)
            return
        log.debug("dropped a response matching no transaction: %d %s", response.code, key)

    def _on_request(self, request: Request, source: Address_) -> None:
        assert self._transport is not None
        reply_to = source if self._transport.reliable else response_address(request, source)
        method = request.method
        log.debug("received %s from %s:%d", method, *source)
        call = self._calls.get(request.call_id)
        in_dialog = call is not None and call.dialog is not None and call.dialog.matches(request)
        # A Call-ID can name an outgoing and an incoming call at once (a call to ourselves):
        # the tags tell them apart.
        incoming = self._incoming.get(request.call_id)
        incoming_dialog = incoming is not None and (
            incoming.dialog is not None and incoming.dialog.matches(request)
        )
        if method == "ACK":
            if call is not None and in_dialog:
                call.on_ack(request)
            elif incoming is not None and (
                incoming_dialog or incoming.matches_transaction(request)
            ):
                incoming.on_ack(request)
            return  # an ACK is never answered
        if incoming is not None and method == "INVITE" and tag_of(request.to_address) is None:
            if not incoming.on_invite_again(request, reply_to):
                self._respond(request, 482, reply_to)  # the same call arriving twice (8.2.2.2)
            return
        if incoming is not None and method == "CANCEL" and incoming.matches_transaction(request):
            self._send_response(request, bytes(incoming.cancel_response(request)), reply_to)
            incoming.on_cancel()
            return
        replay = self._server.replay(request)
        if replay is not None:
            self._transport.send(replay, reply_to)
            return
        if (
            method == "INVITE"
            and call is not None
            and in_dialog
            and call.state is CallState.ANSWERED
        ):
            answer = call.on_reinvite(request, reply_to)
            self._server.remember(request, bytes(answer))
            return
        if method == "INVITE" and incoming is not None and incoming_dialog:
            self._on_incoming_reinvite(incoming, request, reply_to)
            return
        if method == "BYE" and call is not None and in_dialog:
            self._respond(request, 200, reply_to)
            call.on_bye()
            return
        if method == "BYE" and incoming is not None and incoming_dialog:
            self._respond(request, 200, reply_to)
            incoming.on_bye()
            return
        in_dialog = in_dialog or incoming_dialog
        if method == "OPTIONS":
            self._respond(
                request,
                200,
                reply_to,
                headers=[("Allow", ALLOWED_METHODS), ("Accept", "application/sdp")],
            )
        elif method == "INFO":
            self._respond(request, 200 if in_dialog else 481, reply_to)
        elif method == "CANCEL":
            # An INVITE answered at once (a refusal) has nothing left to cancel.
            status = 200 if self._server.seen_invite(top_branch(request)) else 481
            self._respond(request, status, reply_to)
        elif method == "BYE" or (method == "INVITE" and tag_of(request.to_address) is not None):
            self._respond(request, 481, reply_to)
        elif method == "INVITE":
            self._on_new_invite(request, source, reply_to)
        else:
            self._respond(request, 501, reply_to, headers=[("Allow", ALLOWED_METHODS)])

    def _on_incoming_reinvite(
        self, incoming: IncomingCall, request: Request, reply_to: Address_
    ) -> None:
        if incoming.state is CallState.ANSWERED:
            answer = incoming.on_reinvite(request, reply_to)
            self._server.remember(request, bytes(answer))
        elif incoming.state is CallState.PROCEEDING:
            # 14.2: a second INVITE before we answered the first: 500 with Retry-After.
            self._respond(request, 500, reply_to, headers=[("Retry-After", "1")])
        else:
            self._respond(request, 481, reply_to)

    def _on_new_invite(self, request: Request, source: Address_, reply_to: Address_) -> None:
        """Someone calls us: who may (the source list, then digest), then the engine."""
        if self._on_invite is None or self._closed:
            self._respond(request, 480, reply_to, reason="Incoming Calls Not Accepted")
            return
        host = source[0]
        if not self.settings.allows_source(host):
            self._warn_source(host)
            self._respond(
                request,
                403,
                reply_to,
                headers=[warning(self.advertised_host, f"calls from {host} are not accepted")],
            )
            return
        if self._guard is not None:
            verdict, why = self._guard.check("INVITE", request.headers.getlist("Authorization"))
            if verdict in (Verdict.MISSING, Verdict.STALE):
                challenge = self._guard.challenge(stale=verdict is Verdict.STALE)
                self._respond(request, 401, reply_to, headers=[("WWW-Authenticate", challenge)])
                return
            if verdict is Verdict.REFUSED:
                log.warning("refused an INVITE from %s:%d: %s", *source, why)
                self._respond(request, 403, reply_to, headers=[warning(self.advertised_host, why)])
                return
        required = [
            extension.strip()
            for value in request.headers.getlist("Require")
            for extension in value.split(",")
            if extension.strip()
        ]
        if required:  # we support no extension (100rel, timer...): 8.2.2.3
            self._respond(request, 420, reply_to, headers=[("Unsupported", ", ".join(required))])
            return
        incoming = IncomingCall(self, request, reply_to)
        self._incoming[incoming.call_id] = incoming
        incoming.trying()
        self._on_invite(incoming)

    def _warn_source(self, host: str) -> None:
        if host in self._warned_sources or len(self._warned_sources) >= WARNED_SOURCES_LIMIT:
            log.debug("refused an INVITE from %s: not in [network.sip] inbound_sources", host)
            return
        self._warned_sources.add(host)
        log.warning(
            "refused an INVITE from %s (403): not in [network.sip] inbound_sources "
            "(further calls from it are logged at debug level)",
            host,
        )

    def _respond(
        self,
        request: Request,
        status: int,
        reply_to: Address_,
        *,
        reason: str | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        assert self._transport is not None
        response = make_response(
            request,
            status,
            reason,
            to_tag=new_tag(),
            headers=[*(headers or []), ("User-Agent", self.user_agent)],
        )
        self._send_response(request, bytes(response), reply_to)

    def _send_response(self, request: Request, data: bytes, reply_to: Address_) -> None:
        """Send, and remember for the request's retransmissions (17.2)."""
        assert self._transport is not None
        self._server.remember(request, data)
        self._transport.send(data, reply_to)

    # -- addresses ---------------------------------------------------------------------

    def _advertised_host(self) -> str | None:
        """The address peers reach us at (Via, Contact): the bound one, or if bound to every
        interface, the one the default route leaves from."""
        host = self.local_address[0]
        try:
            unspecified = ipaddress.ip_address(host).is_unspecified
        except ValueError:
            return host
        if not unspecified:
            return host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        probe = "2001:db8::1" if family == socket.AF_INET6 else "192.0.2.1"
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            try:
                # Connecting a UDP socket sends nothing; it only picks the source address.
                sock.connect((probe, 9))
                return str(sock.getsockname()[0])
            except OSError:
                return "::1" if family == socket.AF_INET6 else "127.0.0.1"

    # -- closing -------------------------------------------------------------------------

    async def close(self, *, grace: float = 2.0) -> None:
        """End live calls (BYE if answered, CANCEL if ringing, 503 to a caller still ringing
        us), wait up to `grace` seconds for those requests to be answered, then stop every
        timer and close the socket. No listener callback runs after close() returns."""
        if self._closed:
            return
        calls: list[OutgoingCall | IncomingCall] = [
            *self._calls.values(),
            *self._incoming.values(),
        ]
        for call in calls:
            if isinstance(call, IncomingCall):
                call.reject(503, "Switchboard is shutting down")  # if it still rings
            call.hangup()
        pending = [
            tx.finished
            for call in calls
            for tx in call.pending
            if tx.state in (State.CALLING, State.PROCEEDING)
        ]
        if pending and grace > 0:
            await asyncio.wait(pending, timeout=grace)
        # Let callbacks for outcomes that arrived during the grace period run.
        await asyncio.sleep(0)
        self._closed = True
        for call in calls:
            call.stop_timers()
        for tx in list(self._transactions.values()):
            tx.terminate()
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._transport is not None:
            await self._transport.close()


def _checked_headers(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    checked = []
    for name, value in headers.items():
        if not HEADER_NAME.match(name):
            raise ValueError(f"header name {name!r} is not a SIP token")
        if name.lower() in RESERVED_HEADERS:
            raise ValueError(f"header {name} is set by the user agent and cannot be given")
        if any(c in value for c in "\r\n\0"):
            raise ValueError(f"header {name} value must be a single line")
        checked.append((name, value))
    return checked


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _uri_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
