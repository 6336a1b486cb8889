"""SIP transactions (RFC 3261 section 17, with RFC 6026's Accepted state).

A client transaction sends one request, retransmits it over UDP until the peer answers, hands
each response the transaction user (TU) should see to a callback, and times out on its own.
A server transaction cache answers retransmitted requests with the response already sent.
Timers run on the asyncio loop in real time: this is network protocol timing, not call time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from sipmessage import Request, Response

from switchboard.sip.messages import make_request, top_branch

log = logging.getLogger("switchboard.sip")

Send = Callable[[bytes], None]


@dataclass(frozen=True)
class Timers:
    """RFC 3261 timer values; tests shorten t1 so Timer B (64*T1) comes quickly."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0

    @property
    def b(self) -> float:
        return 64 * self.t1


class State(Enum):
    CALLING = "calling"  # INVITE: nothing heard yet (non-INVITE: "trying")
    PROCEEDING = "proceeding"
    ACCEPTED = "accepted"  # INVITE got a 2xx; retransmitted 2xx still go to the TU
    COMPLETED = "completed"  # final non-2xx received; absorbing retransmissions
    TERMINATED = "terminated"


class ClientTransaction:
    """What both client transactions share: the request, its key, the timers."""

    def __init__(
        self,
        request: Request,
        *,
        send: Send,
        reliable: bool,
        timers: Timers,
        on_response: Callable[[Response], None],
        on_failure: Callable[[int], None],
        on_terminated: Callable[[ClientTransaction], None],
    ) -> None:
        self.request = request
        self.branch = top_branch(request)
        self.method = request.method
        self.state = State.CALLING
        self._data = bytes(request)
        self._send = send
        self._reliable = reliable
        self._timers = timers
        self._on_response = on_response
        self._on_failure = on_failure
        self._on_terminated = on_terminated
        self._loop = asyncio.get_running_loop()
        self._retransmit: asyncio.TimerHandle | None = None
        self._timeout: asyncio.TimerHandle | None = None
        self._linger: asyncio.TimerHandle | None = None
        self._interval = timers.t1
        # Done when a final response came or the transaction gave up (close() waits on it).
        self.finished: asyncio.Future[None] = self._loop.create_future()

    @property
    def key(self) -> tuple[str, str]:
        return self.branch, self.method

    def start(self) -> None:
        self._send(self._data)
        if not self._reliable:
            self._retransmit = self._loop.call_later(self._interval, self._on_retransmit_timer)
        self._timeout = self._loop.call_later(self._timers.b, self._on_timeout_timer)

    def receive(self, response: Response) -> None:
        raise NotImplementedError

    def transport_failed(self) -> None:
        """The request could not be sent (RFC 3261 17.1.4): the TU treats it as a 503."""
        if self.state in (State.CALLING, State.PROCEEDING):
            self.terminate()
            self._on_failure(503)

    def terminate(self) -> None:
        for handle in (self._retransmit, self._timeout, self._linger):
            if handle is not None:
                handle.cancel()
        self._retransmit = self._timeout = self._linger = None
        self._finish()
        if self.state is not State.TERMINATED:
            self.state = State.TERMINATED
            self._on_terminated(self)

    def _finish(self) -> None:
        if not self.finished.done():
            self.finished.set_result(None)

    def _linger_then_terminate(self, seconds: float) -> None:
        self._finish()
        for handle in (self._retransmit, self._timeout):
            if handle is not None:
                handle.cancel()
        self._retransmit = self._timeout = None
        if seconds <= 0:
            self.terminate()
        else:
            self._linger = self._loop.call_later(seconds, self.terminate)

    def _on_retransmit_timer(self) -> None:
        raise NotImplementedError

    def _on_timeout_timer(self) -> None:
        raise NotImplementedError


class ClientInviteTransaction(ClientTransaction):
    """RFC 3261 17.1.1: Timer A retransmits (doubling from T1), Timer B gives up after 64*T1.

    Non-2xx finals are ACKed here, retransmissions of them re-ACKed and not passed up.
    """

    ack: bytes | None = None  # the ACK sent for a non-2xx final, re-sent on retransmissions

    def receive(self, response: Response) -> None:
        status = response.code
        if self.state in (State.CALLING, State.PROCEEDING):
            if status < 200:
                self.state = State.PROCEEDING
                if self._retransmit is not None:
                    self._retransmit.cancel()
                    self._retransmit = None
                self._on_response(response)
            elif status < 300:
                self.state = State.ACCEPTED
                self._on_response(response)
                # Timer M (RFC 6026): keep matching retransmitted 2xx so the TU re-ACKs them.
                self._linger_then_terminate(self._timers.b)
            else:
                self.state = State.COMPLETED
                self.ack = bytes(self._ack_for(response))
                self._send(self.ack)
                self._on_response(response)
                # Timer D: at least 32 s over UDP to absorb retransmitted finals; 0 over TCP.
                self._linger_then_terminate(0 if self._reliable else max(32.0, self._timers.b))
        elif self.state is State.ACCEPTED and 200 <= status < 300:
            self._on_response(response)
        elif self.state is State.COMPLETED and status >= 300 and self.ack is not None:
            self._send(self.ack)

    def _ack_for(self, response: Response) -> Request:
        """RFC 3261 17.1.1.3: ACK for a non-2xx, built from the INVITE and the response's To."""
        invite = self.request
        headers = [
            ("Via", invite.headers.getlist("Via")[0]),
            ("Max-Forwards", "70"),
            ("From", invite.headers["From"]),
            ("To", response.headers["To"]),
            ("Call-ID", invite.headers["Call-ID"]),
            ("CSeq", f"{invite.cseq.sequence} ACK"),
        ]
        headers += [("Route", value) for value in invite.headers.getlist("Route")]
        return make_request("ACK", invite.uri, headers)

    def _on_retransmit_timer(self) -> None:
        if self.state is not State.CALLING:
            return
        self._send(self._data)
        self._interval *= 2
        self._retransmit = self._loop.call_later(self._interval, self._on_retransmit_timer)

    def _on_timeout_timer(self) -> None:
        self._timeout = None
        if self.state is State.CALLING:
            self.terminate()
            self._on_failure(408)


class ClientNonInviteTransaction(ClientTransaction):
    """RFC 3261 17.1.2: Timer E retransmits (doubling up to T2), Timer F gives up at 64*T1."""

    def receive(self, response: Response) -> None:
        if self.state not in (State.CALLING, State.PROCEEDING):
            return  # a retransmitted final: absorbed (Timer K)
        if response.code < 200:
            self.state = State.PROCEEDING
            self._on_response(response)
            return
        self.state = State.COMPLETED
        self._on_response(response)
        self._linger_then_terminate(0 if self._reliable else self._timers.t4)

    def _on_retransmit_timer(self) -> None:
        if self.state not in (State.CALLING, State.PROCEEDING):
            return
        self._send(self._data)
        # In Proceeding the retransmission interval is T2 (17.1.2.2).
        if self.state is State.PROCEEDING:
            self._interval = self._timers.t2
        else:
            self._interval = min(self._interval * 2, self._timers.t2)
        self._retransmit = self._loop.call_later(self._interval, self._on_retransmit_timer)

    def _on_timeout_timer(self) -> None:
        self._timeout = None
        if self.state in (State.CALLING, State.PROCEEDING):
            self.terminate()
            self._on_failure(408)


class ServerResponses:
    """Answers retransmitted requests with the response already sent (17.2, simplified).

    Keyed by (top Via branch, method); an entry lives 64*T1, as long as a peer retransmits.
    """

    def __init__(self, timers: Timers) -> None:
        self._timers = timers
        self._sent: dict[tuple[str, str], bytes] = {}
        self._expiry: dict[tuple[str, str], asyncio.TimerHandle] = {}

    @staticmethod
    def key(request: Request) -> tuple[str, str]:
        return top_branch(request), request.method

    def replay(self, request: Request) -> bytes | None:
        return self._sent.get(self.key(request))

    def seen_invite(self, branch: str) -> bool:
        return (branch, "INVITE") in self._sent

    def remember(self, request: Request, response: bytes) -> None:
        key = self.key(request)
        if not key[0]:
            return
        self._sent[key] = response
        old = self._expiry.pop(key, None)
        if old is not None:
            old.cancel()
        loop = asyncio.get_running_loop()
        self._expiry[key] = loop.call_later(self._timers.b, self._forget, key)

    def _forget(self, key: tuple[str, str]) -> None:
        self._sent.pop(key, None)
        self._expiry.pop(key, None)

    def close(self) -> None:
        for handle in self._expiry.values():
            handle.cancel()
        self._expiry.clear()
        self._sent.clear()
