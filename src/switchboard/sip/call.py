"""One outgoing call, UAC side: the INVITE, its answer or failure, CANCEL, BYE, and what the
peer asks of the dialog (BYE, re-INVITE). Every outcome reaches the CallListener exactly once
and always from a fresh turn of the event loop, never from inside invite/cancel/hangup."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from sipmessage import URI, Request, Response

from switchboard.sip.dialog import Dialog
from switchboard.sip.digest import CHALLENGE_HEADERS, DigestSession
from switchboard.sip.messages import ALLOWED_METHODS, make_request, new_branch, sdp_body, tag_of
from switchboard.sip.session import CallHost, CallState, DialogCall, challenges
from switchboard.sip.transactions import (
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    ClientTransaction,
)

__all__ = ["CallHost", "CallListener", "CallState", "OutgoingCall"]

log = logging.getLogger("switchboard.sip")

Address = tuple[str, int]


class CallListener(Protocol):
    def on_progress(self, status: int, sdp: bytes | None) -> None: ...

    def on_answered(self, sdp: bytes) -> None: ...

    def on_failed(self, status: int, reason: str) -> None: ...

    def on_remote_bye(self) -> None: ...


class OutgoingCall(DialogCall):
    def __init__(
        self,
        host: CallHost,
        *,
        call_id: str,
        request_uri: URI,
        from_header: str,
        to_header: str,
        destination: Address,
        sdp_offer: bytes,
        listener: CallListener,
        extra_headers: list[tuple[str, str]],
        auth: DigestSession | None,
    ) -> None:
        super().__init__(host, call_id, auth)
        self.state = CallState.CALLING
        self._request_uri = request_uri
        self._from_header = from_header
        self._to_header = to_header
        self._destination = destination
        self._offer = sdp_offer
        self._listener = listener
        self._extra_headers = extra_headers
        self._auth_retries = 0
        self._cseq = 0
        self._invite: Request | None = None
        self._invite_tx: ClientTransaction | None = None
        self._provisional_seen = False
        self._cancel_requested = False
        self._cancel_sent = False
        self._cancel_guard: asyncio.TimerHandle | None = None
        self._reported = False  # the one final outcome (answered / failed) has been reported
        self._ack: bytes | None = None

    def local_sdp(self) -> bytes:
        return self._offer

    # -- what the application does -------------------------------------------------------

    def cancel(self) -> None:
        """Stop a call that has not been answered (RFC 3261 9.1)."""
        if self.state in (CallState.ANSWERED, CallState.ENDED) or self._cancel_requested:
            return
        self._cancel_requested = True
        if self._invite is None:
            # The INVITE has not left yet (its destination was being resolved): never send it.
            self._end()
            self._fail(487, "Request Terminated")
        elif self._provisional_seen:
            self._send_cancel()
        # Otherwise CANCEL waits for a provisional response (9.1); Timer B reports 408 if none.

    def hangup(self) -> None:
        if self.state is CallState.ANSWERED:
            self._end()
            self._send_bye()
        elif self.state in (CallState.CALLING, CallState.PROCEEDING):
            self.cancel()

    # -- the INVITE ----------------------------------------------------------------------

    def send_invite(self) -> None:
        if self._cancel_requested:
            return
        self._cseq += 1
        branch = new_branch()
        headers = [
            ("Via", self._host.via(branch)),
            ("Max-Forwards", "70"),
            ("From", self._from_header),
            ("To", self._to_header),
            ("Call-ID", self.call_id),
            ("CSeq", f"{self._cseq} INVITE"),
            ("Contact", self._host.contact()),
            ("Allow", ALLOWED_METHODS),
            ("User-Agent", self._host.user_agent),
            *self._extra_headers,
        ]
        if self._auth is not None:
            headers += self._auth.headers("INVITE", str(self._request_uri), self._offer)
        headers.append(("Content-Type", "application/sdp"))
        self._invite = make_request("INVITE", self._request_uri, headers, self._offer)
        self._provisional_seen = False
        self._invite_tx = self._host.start_transaction(
            ClientInviteTransaction,
            self._invite,
            self._destination,
            self._on_invite_response,
            self._on_invite_failure,
        )

    def _on_invite_response(self, response: Response) -> None:
        status = response.code
        if status < 200:
            # Any provisional, 100 included, lets a CANCEL through (9.1).
            self._provisional_seen = True
            if self._cancel_requested:
                if not self._cancel_sent:
                    self._send_cancel()
                return
            if status == 100:
                return  # Trying only stops retransmissions, which the transaction did
            if self.state is CallState.CALLING:
                self.state = CallState.PROCEEDING
            if self.state is CallState.PROCEEDING:
                self._host.report(self._listener.on_progress, status, sdp_body(response))
            return
        if status < 300:
            self._on_2xx(response)
            return
        # A non-2xx final, already ACKed by the transaction.
        if status in (401, 407) and self._retry_with_credentials(response):
            return
        if self._reported:
            return
        self._end()
        if self._cancel_requested and status in (401, 407):
            self._fail(487, "Request Terminated")
        else:
            self._fail(status, response.phrase)

    def _retry_with_credentials(self, response: Response) -> bool:
        if self._auth is None or self._cancel_requested or self._auth_retries >= 2:
            return False
        if not self._auth.learn(challenges(response)):
            return False
        self._auth_retries += 1
        # Same Call-ID and From tag, new CSeq and branch (RFC 3261 22.2).
        self.send_invite()
        return True

    def _on_invite_failure(self, status: int) -> None:
        if self._reported:
            return
        self._end()
        reason = "Request Timeout" if status == 408 else "Service Unavailable (transport error)"
        self._fail(status, reason)

    def _on_2xx(self, response: Response) -> None:
        assert self._invite is not None
        remote_tag = tag_of(response.to_address)
        if self.dialog is not None:
            if remote_tag == self.dialog.remote_tag:
                # A retransmitted 2xx: our ACK was lost, send it again (13.2.2.4).
                if self._ack is not None:
                    self._host.send(self._ack, self.dialog.next_hop())
            else:
                # A second answer from a forked branch: ACK it, then end it (13.2.2.4).
                other = Dialog.from_2xx(self._invite, response)
                self._send_ack(other)
                self._send_bye(other)
            return
        self.dialog = Dialog.from_2xx(self._invite, response)
        self._ack = self._send_ack(self.dialog)
        if self._cancel_requested or self.state is CallState.ENDED:
            # The answer crossed our CANCEL: the call exists now, so end it with a BYE.
            self._send_bye()
            if not self._reported:
                self._end()
                self._fail(487, "Request Terminated")
            return
        self.state = CallState.ANSWERED
        self._reported = True
        self._host.report(self._listener.on_answered, sdp_body(response) or b"")

    def on_late_2xx(self, response: Response) -> None:
        """A 2xx the INVITE transaction no longer matches (it was given up): ACK it, and
        BYE it unless it is a retransmission of the answer we already have."""
        if self._invite is not None and response.cseq.sequence == self._invite.cseq.sequence:
            self._on_2xx(response)

    def _send_ack(self, dialog: Dialog) -> bytes:
        assert self._invite is not None
        # The ACK carries the INVITE's credentials (RFC 3261 13.2.2.4 and 22.1).
        credentials = [
            (name, value)
            for name in CHALLENGE_HEADERS.values()
            for value in self._invite.headers.getlist(name)
        ]
        extra = [("User-Agent", self._host.user_agent), *credentials]
        ack = bytes(dialog.ack(self._invite.cseq.sequence, self._host.via(new_branch()), extra))
        self._host.send(ack, dialog.next_hop())
        return ack

    # -- CANCEL and BYE ------------------------------------------------------------------

    def _send_cancel(self) -> None:
        invite = self._invite
        assert invite is not None
        self._cancel_sent = True
        # CANCEL matches the INVITE by its branch, so it copies Via, To, From, Call-ID,
        # CSeq number and Route (RFC 3261 9.1).
        headers = [
            ("Via", invite.headers.getlist("Via")[0]),
            ("Max-Forwards", "70"),
            ("From", invite.headers["From"]),
            ("To", invite.headers["To"]),
            ("Call-ID", self.call_id),
            ("CSeq", f"{invite.cseq.sequence} CANCEL"),
            *[("Route", value) for value in invite.headers.getlist("Route")],
            ("User-Agent", self._host.user_agent),
        ]
        cancel = make_request("CANCEL", invite.uri, headers)
        # A CANCEL cannot be resubmitted with new credentials (22.1: same CSeq, same branch),
        # so a 401/407 to it is only logged; the guard below still ends the call.
        tx = self._host.start_transaction(
            ClientNonInviteTransaction,
            cancel,
            self._destination,
            lambda response: log.debug("CANCEL %s: %d", self.call_id, response.code),
            lambda status: log.info("CANCEL %s got no answer (%d)", self.call_id, status),
        )
        self.pending.append(tx)
        # 9.1: if no final response comes within 64*T1 of the CANCEL, give the INVITE up.
        self._cancel_guard = self._host.call_later(self._host.timers.b, self._give_up)

    def _give_up(self) -> None:
        self._cancel_guard = None
        if self._invite_tx is not None:
            self._invite_tx.terminate()
        if not self._reported:
            self._end()
            self._fail(487, "Request Terminated (no final response to CANCEL)")

    # -- requests from the peer inside the dialog ----------------------------------------

    def on_bye(self) -> None:
        if self.state is CallState.ANSWERED:
            self._end()
            self._host.report(self._listener.on_remote_bye)

    # -- endings -------------------------------------------------------------------------

    def _fail(self, status: int, reason: str) -> None:
        self._reported = True
        self._host.report(self._listener.on_failed, status, reason)

    def _end(self) -> None:
        if self.state is CallState.ENDED:
            return
        if self._cancel_guard is not None:
            self._cancel_guard.cancel()
            self._cancel_guard = None
        super()._end()

    def stop_timers(self) -> None:
        """The user agent is closing: nothing of this call may run afterwards."""
        super().stop_timers()
        if self._cancel_guard is not None:
            self._cancel_guard.cancel()
            self._cancel_guard = None
