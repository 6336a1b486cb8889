"""What a call's dialog needs on either side, outgoing (sip/call.py) or incoming
(sip/incoming.py): the user agent it runs on (CallHost), retransmitting an INVITE's final
response until the ACK, answering a re-INVITE with the SDP already agreed, and BYE."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from enum import Enum
from typing import Any, Protocol

from sipmessage import Request, Response

from switchboard.sip.dialog import Dialog
from switchboard.sip.digest import CHALLENGE_HEADERS, DigestSession
from switchboard.sip.messages import ALLOWED_METHODS, make_response, new_branch
from switchboard.sip.transactions import ClientNonInviteTransaction, ClientTransaction, Timers

log = logging.getLogger("switchboard.sip")

Address = tuple[str, int]


class CallHost(Protocol):
    """What a call needs from its user agent (implemented by SipUserAgent)."""

    timers: Timers
    user_agent: str

    @property
    def reliable(self) -> bool:
        """Whether the transport is reliable (TCP): then nothing is retransmitted by timer."""
        ...

    @property
    def advertised_host(self) -> str: ...

    def start_transaction(
        self,
        kind: type[ClientTransaction],
        request: Request,
        destination: Address,
        on_response: Callable[[Response], None],
        on_failure: Callable[[int], None],
    ) -> ClientTransaction: ...

    def send(self, data: bytes, destination: Address) -> None: ...

    def via(self, branch: str) -> str: ...

    def contact(self) -> str: ...

    def report(self, callback: Callable[..., None], *args: Any) -> None: ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> asyncio.TimerHandle: ...

    def forget(self, call: DialogCall) -> None: ...


class CallState(Enum):
    CALLING = "calling"  # INVITE sent (or about to be), nothing but 100 heard
    PROCEEDING = "proceeding"  # 18x heard (or, incoming, sent): ringing; CANCEL is allowed
    ANSWERED = "answered"  # 2xx sent or received: the dialog is up
    ENDED = "ended"


class ResponseRetransmitter:
    """Sends a final response to an INVITE again until its ACK stops it (`stop()`).

    A 2xx is the transaction user's to retransmit (RFC 3261 13.3.1.4), over any transport; a
    non-2xx the server transaction's, over UDP only (17.2.1, Timer G). Both start at T1 and
    double up to T2; after 64*T1 without an ACK (Timer H) `on_timeout` runs.
    """

    def __init__(
        self,
        host: CallHost,
        data: bytes,
        reply_to: Address,
        *,
        repeat: bool,
        on_timeout: Callable[[], None] | None = None,
    ) -> None:
        self._host = host
        self.data = data
        self._reply_to = reply_to
        self._repeat = repeat
        self._on_timeout = on_timeout
        self._timer: asyncio.TimerHandle | None = None
        self._deadline: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._host.send(self.data, self._reply_to)
        if self._repeat:
            self._timer = self._host.call_later(self._host.timers.t1, self._again)
        self._deadline = self._host.call_later(self._host.timers.b, self._give_up)

    @property
    def running(self) -> bool:
        return self._deadline is not None

    def _again(self, interval: float | None = None) -> None:
        interval = min((interval or self._host.timers.t1) * 2, self._host.timers.t2)
        self._host.send(self.data, self._reply_to)
        self._timer = self._host.call_later(interval, lambda: self._again(interval))

    def _give_up(self) -> None:
        self._deadline = None
        self.stop()
        if self._on_timeout is not None:
            self._on_timeout()

    def stop(self) -> None:
        for handle in (self._timer, self._deadline):
            if handle is not None:
                handle.cancel()
        self._timer = self._deadline = None


class DialogCall:
    """One call's dialog, from whichever side: re-INVITEs from the peer, BYE from us."""

    call_id: str
    state: CallState

    def __init__(self, host: CallHost, call_id: str, auth: DigestSession | None = None) -> None:
        self.call_id = call_id
        self._host = host
        self._auth = auth
        self.dialog: Dialog | None = None
        self._reinvite: tuple[int, ResponseRetransmitter] | None = None
        self.pending: list[ClientTransaction] = []  # BYE/CANCEL still running, for close()

    def local_sdp(self) -> bytes:
        """The session description we stand by: sent again in answer to a re-INVITE."""
        raise NotImplementedError

    # -- requests from the peer inside the dialog ----------------------------------------

    def on_reinvite(self, request: Request, reply_to: Address) -> Response:
        """A re-INVITE (a refresh or a hold): our media stays as it is, so answer with the
        same SDP, and retransmit that 2xx until the peer ACKs it (13.3.1.4)."""
        answer = make_response(
            request,
            200,
            headers=[
                ("Contact", self._host.contact()),
                ("Allow", ALLOWED_METHODS),
                ("User-Agent", self._host.user_agent),
                ("Content-Type", "application/sdp"),
            ],
            body=self.local_sdp(),
        )
        self._stop_reinvite_retransmits()
        sender = ResponseRetransmitter(self._host, bytes(answer), reply_to, repeat=True)
        self._reinvite = (request.cseq.sequence, sender)
        sender.start()
        return answer

    def on_ack(self, request: Request) -> None:
        if self._reinvite is not None and request.cseq.sequence == self._reinvite[0]:
            self._stop_reinvite_retransmits()

    def _stop_reinvite_retransmits(self) -> None:
        if self._reinvite is not None:
            self._reinvite[1].stop()
            self._reinvite = None

    # -- BYE ------------------------------------------------------------------------------

    def _send_bye(self, dialog: Dialog | None = None, *, retried: bool = False) -> None:
        dialog = dialog or self.dialog
        assert dialog is not None
        extra = [("User-Agent", self._host.user_agent)]
        if retried and self._auth is not None:
            extra += self._auth.headers("BYE", str(dialog.remote_target))
        bye = dialog.request("BYE", self._host.via(new_branch()), extra)

        def on_response(response: Response) -> None:
            if (
                response.code in (401, 407)
                and not retried
                and self._auth is not None
                and self._auth.learn(challenges(response))
            ):
                self._send_bye(dialog, retried=True)
                return
            if response.code >= 300:
                log.info("BYE %s answered %d %s", self.call_id, response.code, response.phrase)

        def on_failure(status: int) -> None:
            log.info("BYE %s got no answer (%d)", self.call_id, status)

        tx = self._host.start_transaction(
            ClientNonInviteTransaction, bye, dialog.next_hop(), on_response, on_failure
        )
        self.pending.append(tx)

    # -- endings -------------------------------------------------------------------------

    def _end(self) -> None:
        if self.state is CallState.ENDED:
            return
        self.state = CallState.ENDED
        self._stop_reinvite_retransmits()
        self._host.forget(self)

    def stop_timers(self) -> None:
        """The user agent is closing: nothing of this call may run afterwards."""
        self._stop_reinvite_retransmits()


def challenges(response: Response) -> list[tuple[str, str]]:
    return [(name, value) for name in CHALLENGE_HEADERS for value in response.headers.getlist(name)]
