"""One incoming call, UAS side: the INVITE we were sent, the responses we give it (100, 180,
183, then 200 or a refusal), the caller's ACK, CANCEL and BYE, and our BYE.

What to answer is decided above (network/sip.py): this module only keeps RFC 3261's promises.
A final response is sent again until the caller's ACK stops it (13.3.1.4 for a 2xx, Timer G
for a refusal over UDP), and given up after 64*T1 (Timer H); an answer never acknowledged
ends the call with a BYE. Every event reaches the IncomingListener through the loop (never
from inside ring/answer/reject/hangup), at most once, and none after the call has ended.
"""

from __future__ import annotations

import logging
from typing import Protocol

from sipmessage import Request, Response

from switchboard.sip.dialog import Dialog
from switchboard.sip.messages import (
    ALLOWED_METHODS,
    make_response,
    new_tag,
    sdp_body,
    top_branch,
)
from switchboard.sip.session import Address, CallHost, CallState, DialogCall, ResponseRetransmitter

log = logging.getLogger("switchboard.sip")


class IncomingListener(Protocol):
    def on_cancelled(self) -> None:
        """The caller gave up before we answered (CANCEL, or BYE on the early dialog)."""
        ...

    def on_remote_bye(self) -> None:
        """The caller hung up after we answered."""
        ...

    def on_unacknowledged(self) -> None:
        """Our 200 was never ACKed within 64*T1: the call was ended with a BYE."""
        ...


def warning(host: str, text: str) -> tuple[str, str]:
    """A Warning header (RFC 3261 20.43) saying in words why: code 399, "miscellaneous"."""
    agent = f"[{host}]" if ":" in host and not host.startswith("[") else host
    quoted = text.replace("\\", "\\\\").replace('"', '\\"')
    return "Warning", f'399 {agent} "{quoted}"'


class IncomingCall(DialogCall):
    def __init__(self, host: CallHost, invite: Request, reply_to: Address) -> None:
        super().__init__(host, invite.call_id)
        self.invite = invite
        self.branch = top_branch(invite)
        self.offer = sdp_body(invite)
        self.state = CallState.PROCEEDING
        self.listener: IncomingListener | None = None
        self.confirmed = False  # the caller ACKed our 2xx
        self.final_status: int | None = None
        self._reply_to = reply_to
        self._local_tag = new_tag()
        self.dialog = Dialog.from_invite(invite, self._local_tag)
        self._sdp = b""
        self._last: bytes | None = None  # the latest response to the INVITE, for replays
        self._final: ResponseRetransmitter | None = None

    @property
    def ended(self) -> bool:
        return self.state is CallState.ENDED

    def local_sdp(self) -> bytes:
        return self._sdp

    # -- what the application does -------------------------------------------------------

    def trying(self) -> None:
        """100 Trying: the caller stops retransmitting the INVITE while we decide."""
        self._respond(100, tagged=False)

    def ring(self) -> None:
        """180 Ringing: the caller's phone plays its own ringback."""
        if self.state is CallState.PROCEEDING:
            self._respond(180, dialog=True)

    def progress(self, sdp: bytes) -> None:
        """183 Session Progress with our SDP: the caller hears what we send before the answer
        (early media, e.g. <Ring answerCall="false">)."""
        if self.state is CallState.PROCEEDING:
            self._sdp = sdp
            self._respond(183, dialog=True, sdp=sdp)

    def answer(self, sdp: bytes) -> None:
        """200 OK with our SDP answer; sent again until the caller ACKs it."""
        if self.state is not CallState.PROCEEDING:
            return
        self._sdp = sdp
        self.state = CallState.ANSWERED
        self.final_status = 200
        data = self._respond(200, dialog=True, sdp=sdp, send=False)
        self._final = ResponseRetransmitter(
            self._host, data, self._reply_to, repeat=True, on_timeout=self._unacknowledged
        )
        self._final.start()

    def reject(self, status: int, text: str | None = None, *, reason: str | None = None) -> None:
        """Refuse the call with a final non-2xx, `text` in a Warning header; sent again over
        UDP until the caller ACKs it (Timer G), for at most 64*T1 (Timer H)."""
        if self.state is not CallState.PROCEEDING:
            return
        headers = [warning(self._host.advertised_host, text)] if text else []
        self._refuse(status, reason, headers)
        self._end()

    def hangup(self) -> None:
        """BYE once answered; before that, decline the call (603)."""
        if self.state is CallState.ANSWERED:
            self._stop_answer()
            self._end()
            self._send_bye()
        elif self.state is CallState.PROCEEDING:
            self.reject(603, "the application ended the call before answering it")

    # -- what the caller sends -------------------------------------------------------------

    def on_invite_again(self, request: Request, reply_to: Address) -> bool:
        """A retransmitted INVITE gets our latest response again; False if it is another
        INVITE with this Call-ID (a loop or a fork merging: the user agent answers 482)."""
        if top_branch(request) != self.branch:
            return False
        if self._last is not None:
            self._host.send(self._last, reply_to)
        return True

    def matches_transaction(self, request: Request) -> bool:
        """Whether a CANCEL or a non-2xx ACK belongs to our INVITE's transaction (9.2)."""
        return top_branch(request) == self.branch

    def cancel_response(self, request: Request) -> Response:
        """9.2: a CANCEL matching our INVITE is answered 200 (before on_cancel's 487)."""
        return make_response(
            request,
            200,
            to_tag=self._local_tag,
            headers=[("User-Agent", self._host.user_agent)],
        )

    def on_cancel(self) -> None:
        """A call still ringing ends: its INVITE gets 487 (9.2); else the CANCEL is moot."""
        if self.state is CallState.PROCEEDING:
            self._refuse(487, None, [])
            self._end()
            self._tell("on_cancelled")

    def on_ack(self, request: Request) -> None:
        if self.final_status is None:
            return
        if self.final_status >= 300:
            if self.matches_transaction(request) and self._final is not None:
                self._final.stop()  # Timer G stops; later ACKs are absorbed (Timer I)
            return
        if request.cseq.sequence == self.invite.cseq.sequence:
            self.confirmed = True
            if self._final is not None:
                self._final.stop()
            return
        super().on_ack(request)  # the ACK of a re-INVITE's 2xx

    def on_bye(self) -> None:
        """The caller's BYE (already answered 200): a hang-up, or a give-up before the answer
        (RFC 3261 15: a caller may BYE an early dialog; its INVITE then gets 487)."""
        if self.state is CallState.ANSWERED:
            self._stop_answer()  # a BYE before the ACK: the 200 need not go again
            self._end()
            self._tell("on_remote_bye")
        elif self.state is CallState.PROCEEDING:
            self._refuse(487, None, [])
            self._end()
            self._tell("on_cancelled")

    # -- plumbing ------------------------------------------------------------------------

    def _stop_answer(self) -> None:
        if self._final is not None and self.final_status == 200:
            self._final.stop()

    def _unacknowledged(self) -> None:
        if self.state is not CallState.ANSWERED:
            return
        log.info("call %s: no ACK for our 200 within 64*T1; hanging up", self.call_id)
        self._end()
        self._send_bye()  # 13.3.1.4: the session SHOULD be terminated
        self._tell("on_unacknowledged")

    def _refuse(self, status: int, reason: str | None, headers: list[tuple[str, str]]) -> None:
        self.final_status = status
        data = self._respond(status, reason=reason, headers=headers, send=False)
        self._final = ResponseRetransmitter(
            self._host, data, self._reply_to, repeat=not self._host.reliable
        )
        self._final.start()

    def _respond(
        self,
        status: int,
        *,
        reason: str | None = None,
        tagged: bool = True,
        dialog: bool = False,
        sdp: bytes | None = None,
        headers: list[tuple[str, str]] | None = None,
        send: bool = True,
    ) -> bytes:
        extra = list(headers or [])
        if dialog:
            # Responses that make the dialog carry our Contact and the Record-Route (12.1.1).
            extra += [
                ("Record-Route", value) for value in self.invite.headers.getlist("Record-Route")
            ]
            extra += [("Contact", self._host.contact()), ("Allow", ALLOWED_METHODS)]
        extra.append(("User-Agent", self._host.user_agent))
        if sdp is not None:
            extra.append(("Content-Type", "application/sdp"))
        response = make_response(
            self.invite,
            status,
            reason,
            to_tag=self._local_tag if tagged else None,
            headers=extra,
            body=sdp or b"",
        )
        data = bytes(response)
        self._last = data
        if send:
            self._host.send(data, self._reply_to)
        return data

    def _tell(self, event: str) -> None:
        listener = self.listener
        if listener is not None:
            self._host.report(getattr(listener, event))

    def stop_timers(self) -> None:
        super().stop_timers()
        if self._final is not None:
            self._final.stop()
