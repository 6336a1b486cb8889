"""The SIP network: each call leg is a SIP dialog (sip/useragent.py) carrying RTP media
(media/rtp.py): an outgoing one we place (SipLeg), or an incoming one a caller placed to one of
our numbers (SipInboundLeg). It implements the same `Network` seam as the simulated network, so
every BXML verb does on a real call what it does on a virtual phone; both kinds of leg share
their media code (_MediaLeg).

Outcomes map to Bandwidth's causes (docs/sip.md): 486/600 busy, 603 rejected, 408/480 timeout,
any other final failure `error`; the code travels as the disconnect's sipResponseCode and the
dialog's Call-ID as sipCallId.

A call that comes in is offered to the engine (`Network.start`'s `incoming`) once the user
agent has let it in (source list, digest) and we can take its media: the number is the
Request-URI's user part, E.164 with or without `+`. The engine's CallRefused becomes the
INVITE's final response (404, 503...), its reason a Warning header.

Two legs, of one call or of two, are joined in a room (sip_room.py) for <Transfer>, <Bridge>
and <Forward>: each leg's received RTP is relayed to the other (docs/sip.md, "Rooms").
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import secrets
from collections.abc import Callable, Coroutine
from typing import Any

from sipmessage import Address, Request
from sipmessage.address import unquote

from switchboard.activity import Activity
from switchboard.media.ringback import ringback_pcm
from switchboard.media.rtp import RtpSession
from switchboard.media.sdp import MediaDescription, SdpError, build_offer, parse_answer
from switchboard.media.tts import SynthesisError, synthesize
from switchboard.network.audio import AudioError
from switchboard.network.audio_files import AudioFiles, UnsupportedAudioFile
from switchboard.network.base import (
    NO_CALLER_ID,
    Answered,
    Busy,
    CallerId,
    CallRefused,
    Digit,
    EventSink,
    Failed,
    InboundOffer,
    IncomingCalls,
    LegEvent,
    MediaFailed,
    MediaFinished,
    NoAnswer,
    Rejected,
    RemoteHangup,
    Ringing,
    RoomsUnsupported,
    Tap,
    TapSink,
)
from switchboard.network.sip_room import SipRoom
from switchboard.network.sip_tap import LegAudio, SipTap
from switchboard.sip.incoming import IncomingCall
from switchboard.sip.offer_answer import answer_offer
from switchboard.sip.settings import SipSettings
from switchboard.sip.useragent import OutgoingCall, SipUserAgent

logger = logging.getLogger("switchboard.network")

BUSY_CODES = frozenset({486, 600})
DECLINED_CODES = frozenset({603})
NO_ANSWER_CODES = frozenset({408, 480})
# The Request-URI's user part as a number: E.164 with or without "+", visual separators allowed
# (RFC 3966), user parameters after ";" ignored.
_NUMBER = re.compile(r"^\+?([1-9][0-9]{1,14})$")
_SEPARATORS = str.maketrans("", "", "-.() ")
MAX_UUI = 256  # initiate.mdx: the value, encoding included, "may not exceed 256 characters"
MAX_FROM = 128  # a caller's identity longer than this is cut (it is stored and sent on)
MAX_DIVERSION_PARAMS = 16
# Our answer to an INVITE the application declines before answering (<Hangup>, updateCall
# completed, an error before any verb answered): 603 Decline, the callee's "no" (docs/sip.md).
DECLINED_BY_APPLICATION = 603


class _MediaLeg:
    """What every SIP leg does with its RTP stream, whichever side placed the call: the media
    verbs, digits heard, and reporting to the engine. Media completions and signalling
    callbacks arrive on the event loop; every event reaches the engine through call_soon,
    never re-entrantly."""

    def __init__(self, network: SipNetwork, call_id: str, sink: EventSink | None) -> None:
        self.network = network
        self.call_id = call_id
        self.sink = sink
        self.sip_call_id: str | None = None
        self.rtp: RtpSession | None = None
        self.audio: LegAudio | None = None  # its taps' audio (sip_tap.py), once one opened
        self.answered = False
        self.ended = False
        self._media_generation = 0
        self._loop = asyncio.get_running_loop()

    @property
    def media_generation(self) -> int:
        return self._media_generation

    async def _open_media(self) -> RtpSession:
        settings = self.network.settings
        return await RtpSession.open(
            settings.local_host,
            (settings.rtp_port_min, settings.rtp_port_max),
            on_digit=self._digit,
        )

    def _before_media(self) -> None:
        """A media request is about to play (a hook for the inbound leg)."""

    # -- media --------------------------------------------------------------------------------
    def speak(self, text: str, voice: str | None, gender: str | None, locale: str | None) -> None:
        generation = self._new_media()

        async def synthesize_then_play() -> None:
            try:
                pcm = await synthesize(text, voice, gender, locale)
            except SynthesisError as error:
                self._media_failed(generation, "error", f"Speech synthesis failed: {error}")
                return
            except Exception as error:  # a verb must always end, or the call waits forever
                logger.exception("call %s: speech synthesis failed", self.call_id)
                self._media_failed(generation, "error", f"Speech synthesis failed: {error!r}")
                return
            self._play_pcm(generation, pcm)

        self._spawn(synthesize_then_play())

    def play(self, url: str, username: str | None, password: str | None) -> None:
        generation = self._new_media()

        async def fetch_then_play() -> None:
            try:
                pcm = await self.network.audio.pcm(url, username, password)
            except UnsupportedAudioFile as error:
                self._media_failed(generation, "application-error", str(error))
                return
            except AudioError as error:
                # As on the simulated network: a file that cannot be fetched is the app's error.
                self._media_failed(generation, "application-error", str(error))
                return
            except Exception as error:  # a verb must always end, or the call waits forever
                logger.exception("call %s: playing %s failed", self.call_id, url)
                self._media_failed(
                    generation, "error", f"Switchboard internal error playing {url}: {error!r}"
                )
                return
            self._play_pcm(generation, pcm)

        self._spawn(fetch_then_play())

    def silence(self, seconds: float) -> None:
        generation = self._new_media()
        if self.rtp is not None:
            self.rtp.silence(seconds, self._finisher(generation))

    def ring(self, seconds: float) -> None:
        self._play_pcm(self._new_media(), ringback_pcm(seconds))

    def send_dtmf(self, digits: str, tone_ms: float, interval_ms: float) -> None:
        generation = self._new_media()
        if self.rtp is not None:
            self.rtp.send_dtmf(digits, tone_ms, interval_ms, self._finisher(generation))

    def stop_media(self) -> None:
        self._media_generation += 1
        if self.rtp is not None:
            self.rtp.stop()

    def gather_started(self) -> None:
        pass  # a real callee presses keys when it wants to

    # -- plumbing ------------------------------------------------------------------------------
    def _play_pcm(self, generation: int, pcm: bytes) -> None:
        if generation != self._media_generation or self.rtp is None:
            return
        self.rtp.play(pcm, self._finisher(generation))

    def _new_media(self) -> int:
        self._before_media()
        self._media_generation += 1
        if self.rtp is not None:
            self.rtp.stop()
        return self._media_generation

    def _finisher(self, generation: int) -> Callable[[], None]:
        def finished() -> None:
            if generation == self._media_generation and not self.ended:
                self._emit(MediaFinished(generation))

        return finished

    def _media_failed(self, generation: int, cause: str, message: str) -> None:
        if generation == self._media_generation and not self.ended:
            self._emit(MediaFailed(cause, message, generation))

    def _digit(self, digit: str) -> None:
        if self.answered and not self.ended:
            self._emit(Digit(digit))

    def _finish(self, event: Busy | Rejected | NoAnswer | Failed | RemoteHangup) -> None:
        self.ended = True
        self._close_media()
        self.network.legs.pop(self.call_id, None)
        self._emit(event)

    def _close_media(self) -> None:
        if self.audio is not None:
            self.audio.end()  # taps get what was heard up to the end, then close
        if self.rtp is not None:
            self.rtp.close()

    def listen(self, sink: TapSink) -> Tap:
        if self.ended or self.rtp is None:
            return SipTap(None, sink)  # nothing more will be heard
        if self.audio is None:
            self.audio = LegAudio(self.rtp, self._loop, self.network.monotonic)
        return self.audio.add(sink)

    def _emit(self, event: LegEvent) -> None:
        if self.sink is not None:  # None: an inbound leg the engine has not opened yet
            self._loop.call_soon(self.sink, event)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        self.network.activity.spawn(coroutine)


class SipLeg(_MediaLeg):
    """One outgoing call: we send the INVITE; the CallListener callbacks tell us its fate."""

    def __init__(
        self,
        network: SipNetwork,
        call_id: str,
        to: str,
        from_: str,
        sink: EventSink,
        caller: CallerId = NO_CALLER_ID,
    ) -> None:
        super().__init__(network, call_id, sink)
        self.to = to
        self.from_ = from_
        self.caller = caller
        self.dialog: OutgoingCall | None = None
        self.ringing = False

    # -- placing the call --------------------------------------------------------------------
    async def place(self) -> None:
        try:
            self.rtp = await self._open_media()
        except OSError as error:
            if not self.ended:  # else the call was hung up meanwhile: nothing to report
                self._finish(Failed(f"no RTP port is free for the call's media ({error})"))
            return
        if self.ended:  # hung up (callTimeout, updateCall) before the socket was bound
            self.rtp.close()
            return
        # The SDP names the address the callee reaches us at, not a wildcard we bound to.
        address = self.network.agent.advertised_host
        offer = build_offer(address, self.rtp.local_port, secrets.randbelow(2**31))
        try:
            self.dialog = self.network.agent.invite(
                self.to,
                from_user=self.from_,
                display_name=self.caller.display_name,
                sdp_offer=offer,
                listener=self,
                privacy=self.caller.privacy,
                # createCall's uui: "the value of the User-To-User header" of the INVITE.
                headers=_caller_headers(self.caller) or None,
            )
        except ValueError as error:  # e.g. a number with no [network.sip] proxy to send it to
            self._finish(Failed(str(error)))
            return
        self.sip_call_id = self.dialog.call_id

    # -- CallListener ------------------------------------------------------------------------
    def on_progress(self, status: int, sdp: bytes | None) -> None:
        if self.ended:
            return
        if sdp is not None and self.rtp is not None:
            self._start_media(sdp)  # early media: listen (a 183's announcement), send silence
        if not self.ringing:
            self.ringing = True
            self._emit(Ringing())

    def on_answered(self, sdp: bytes) -> None:
        if self.ended:
            return
        unusable = self._start_media(sdp)
        if unusable is not None:
            if self.dialog is not None:
                self.dialog.hangup()  # BYE: the dialog exists, its media does not work
            self._finish(Failed(f"the callee answered with media we cannot use: {unusable}"))
            return
        self.answered = True
        self._emit(Answered())

    def on_failed(self, status: int, reason: str) -> None:
        if self.ended:
            return  # our CANCEL's 487, or a failure after we hung up: the engine knows already
        if status in BUSY_CODES:
            self._finish(Busy(status))
        elif status in DECLINED_CODES:
            self._finish(Rejected(status))
        elif status in NO_ANSWER_CODES:
            self._finish(NoAnswer(status))
        else:
            self._finish(Failed(f"the callee's side answered {status} {reason}".strip(), status))

    def on_remote_bye(self) -> None:
        if self.ended:
            return
        self._finish(RemoteHangup())

    def hangup(self) -> None:
        """BYE when answered, CANCEL while ringing (the UA sends the CANCEL once a provisional
        response makes it legal)."""
        if self.ended:
            return
        self.ended = True
        self._media_generation += 1
        if self.dialog is not None:
            self.dialog.hangup()
        self._close_media()
        self.network.legs.pop(self.call_id, None)

    def _start_media(self, sdp: bytes) -> str | None:
        """Send and receive media as the SDP answer says; why it can't be used, if it can't."""
        try:
            remote: MediaDescription = parse_answer(sdp)
        except (SdpError, ValueError) as error:
            logger.warning("call %s: unusable SDP answer: %s", self.call_id, error)
            return str(error)
        mismatch = _family_mismatch(remote.address, self.network.settings.local_host)
        if mismatch is not None:
            return mismatch
        if self.rtp is not None:
            self.rtp.start(remote)
        return None


class SipInboundLeg(_MediaLeg):
    """The caller's leg of a call that came in (an IncomingCall the user agent let in).

    It rings (180) once the engine has stored the call and opened the leg; `early_media()`
    sends 183 with our SDP so the caller hears what plays before the answer; `answer()` sends
    200 with it. Our `hangup()` declines a call not answered yet (603) and BYEs one that is.
    The caller's CANCEL (or BYE) before the answer and BYE after it are a RemoteHangup, which
    the runner ends with cause `cancel` or `hangup`.
    """

    def __init__(self, network: SipNetwork, incoming: IncomingCall) -> None:
        super().__init__(network, "", None)
        self.incoming = incoming
        self.sip_call_id = incoming.call_id
        self.remote: MediaDescription | None = None
        self.answer_sdp = b""
        self.opened = False
        self._early = False
        incoming.listener = self

    def open(self, call_id: str, events: EventSink) -> SipInboundLeg:
        """The engine stored the call (network/base.py OpenLeg): ring, and report from now."""
        self.call_id = call_id
        self.sink = events
        self.opened = True
        self.network.legs[call_id] = self
        if self.ended:  # the caller gave up while the engine was storing the call
            self.network.legs.pop(call_id, None)
            self._emit(RemoteHangup())
        else:
            self.incoming.ring()
        return self

    def refuse(self, status: int, reason: str) -> None:
        """The engine would not take the call: the INVITE's final answer says why."""
        if self.opened:
            return  # the engine owns the leg: it ends it (hangup) if it must
        self.ended = True
        self._close_media()
        self.incoming.reject(status, reason)

    # -- InboundLeg ----------------------------------------------------------------------
    def answer(self) -> None:
        if self.ended or self.answered:
            return
        self.answered = True
        self._start_media()
        self.incoming.answer(self.answer_sdp)

    def early_media(self) -> None:
        if self.ended or self.answered or self._early:
            return
        self._early = True
        self._start_media()
        self.incoming.progress(self.answer_sdp)

    def hangup(self) -> None:
        if self.ended:
            return
        self.ended = True
        self._media_generation += 1
        if self.answered:
            self.incoming.hangup()  # BYE
        else:
            self.incoming.reject(
                DECLINED_BY_APPLICATION, "the application ended the call before answering it"
            )
        self._close_media()
        self.network.legs.pop(self.call_id, None)

    def _before_media(self) -> None:
        # Media before the answer can only be heard as early media; without it a verb would
        # wait forever for frames that are never sent.
        if not self.answered:
            self.early_media()

    def _start_media(self) -> None:
        if self.rtp is not None and self.remote is not None:
            self.rtp.start(self.remote)  # again after early media: the stream just goes on

    # -- IncomingListener --------------------------------------------------------------------
    def on_cancelled(self) -> None:
        if self.ended:
            return
        if not self.opened:
            self.ended = True  # open() reports it, if the engine takes the call after all
            self._close_media()
            return
        self._finish(RemoteHangup())

    def on_remote_bye(self) -> None:
        if not self.ended:
            self._finish(RemoteHangup())

    def on_unacknowledged(self) -> None:
        if not self.ended:
            self._finish(
                Failed("the caller never acknowledged our answer (no ACK within 64*T1); sent BYE")
            )


def dialled_number(user: str | None) -> str | None:
    """A Request-URI's (or another URI's) user part as an E.164 number with "+", or None."""
    if not user:
        return None
    match = _NUMBER.match(user.split(";", 1)[0].translate(_SEPARATORS))
    return f"+{match.group(1)}" if match else None


def inbound_offer(request: Request, to: str) -> InboundOffer:
    """What initiate.mdx tells the application about a call, from its INVITE."""
    caller = request.from_address.uri
    from_ = dialled_number(caller.user) or caller.user or str(caller)
    uui = ",".join(value.strip() for value in request.headers.getlist("User-to-User")) or None
    if uui is not None and len(uui) > MAX_UUI:
        logger.warning(
            "call %s: User-to-User of %d characters left out (at most %d)",
            request.call_id,
            len(uui),
            MAX_UUI,
        )
        uui = None
    return InboundOffer(
        to=to,
        from_=from_[:MAX_FROM],
        uui=uui,
        diversion=_diversion(request),
        sip_call_id=request.call_id,
    )


def _diversion(request: Request) -> dict[str, str] | None:
    """The most recent Diversion (RFC 5806: the topmost value) as initiate.mdx's object:
    `origTo`, the number the call was diverted from, then the header's parameters."""
    values = request.headers.getlist("Diversion")
    if not values:
        return None
    try:
        latest = Address.parse_many(values[0])[0]
    except (ValueError, IndexError):
        logger.info("call %s: unparsable Diversion %r left out", request.call_id, values[0])
        return None
    uri = latest.uri
    diversion = {"origTo": dialled_number(uri.user) or uri.user or str(uri)}
    for name, value in list(latest.parameters.items())[:MAX_DIVERSION_PARAMS]:
        if name != "origTo":
            diversion[name] = unquote(value or "")[:MAX_UUI]
    return diversion


def _family_mismatch(remote: str, local_host: str) -> str | None:
    """An IPv6 peer for our IPv4 socket (or the reverse) can't be sent to: say so."""
    try:
        remote_version = ipaddress.ip_address(remote).version
    except ValueError:
        return None  # a host name: resolved when sending
    local_version = 6 if ":" in local_host else 4
    if remote_version != local_version:
        return f"its media address {remote} is IPv{remote_version}, ours is IPv{local_version}"
    return None


def _caller_headers(caller: CallerId) -> dict[str, str]:
    headers = {}
    if caller.uui:  # createCall's uui: "the value of the User-To-User header" of the INVITE
        headers["User-to-User"] = caller.uui
    if caller.diversion:  # a transferred or forwarded inbound call's diversionTreatment
        headers["Diversion"] = caller.diversion
    return headers


class SipNetwork:
    """Places every call over SIP: `sip:` URIs directly, numbers through the configured proxy."""

    knows_speech = False  # what callers say is only audio: transcripts come from the engine
    joins_legs = True  # two legs at a time: RTP relayed between them (sip_room.py)

    def __init__(
        self,
        settings: SipSettings,
        activity: Activity,
        audio: AudioFiles,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        self.settings = settings
        self.activity = activity
        self.audio = audio
        # The engine's monotonic clock: taps stamp audio with it (None: the loop's clock).
        self.monotonic = monotonic
        self.legs: dict[str, SipLeg | SipInboundLeg] = {}
        self._agent: SipUserAgent | None = None
        self.incoming: IncomingCalls | None = None

    @property
    def agent(self) -> SipUserAgent:
        if self._agent is None:
            raise RuntimeError("the SIP network was not started")
        return self._agent

    async def start(self, incoming: IncomingCalls | None = None) -> None:
        """Bind the user agent; calls that come in go to `incoming` (None: answered 480)."""
        self.incoming = incoming
        self._agent = await SipUserAgent.start(
            self.settings, on_invite=self._on_invite if incoming is not None else None
        )  # it logs where it listens

    def open_tap(self, leg_id: str, sink: TapSink) -> Tap:
        """The leg's audio both ways and the far end's voice (sip_tap.py); a leg that has
        ended (or is unknown) gives a tap that hears nothing."""
        leg = self.legs.get(leg_id)
        if leg is None:
            return SipTap(None, sink)
        return leg.listen(sink)

    def open_room(self, leg_ids: tuple[str, ...]) -> SipRoom:
        """Relay RTP between these legs (by the id each was placed or taken with). A leg that
        has ended meanwhile takes no part: its call is ending, and closes the room."""
        if len(leg_ids) > 2:
            # More than two parties need their audio mixed, which the relay does not do.
            raise RoomsUnsupported("the SIP network joins two legs at a time, not more")
        sessions = []
        for leg_id in leg_ids:
            leg = self.legs.get(leg_id)
            if leg is not None and not leg.ended and leg.rtp is not None:
                sessions.append(leg.rtp)
        return SipRoom(leg_ids, sessions)

    # -- calls that come in -------------------------------------------------------------------
    def _on_invite(self, call: IncomingCall) -> None:
        self.activity.spawn(self._take(call))

    async def _take(self, call: IncomingCall) -> None:
        leg = SipInboundLeg(self, call)
        try:
            await self._offer(call, leg)
        except Exception:  # a bug must refuse this call, never stop the next ones
            logger.exception("inbound call %s failed inside Switchboard", call.call_id)
            leg.refuse(500, "Switchboard could not take the call (internal error)")

    async def _offer(self, call: IncomingCall, leg: SipInboundLeg) -> None:
        """Check what only the network can (the number's form, the media), open the media,
        then offer the call to the engine, which takes it or says why not (CallRefused)."""
        assert self.incoming is not None
        user = call.invite.uri.user
        to = dialled_number(user)
        if to is None:
            leg.refuse(404, f"{user or call.invite.uri} is not a phone number (E.164, + optional)")
            return
        if call.offer is None:
            leg.refuse(488, "an INVITE without an SDP offer is not supported")
            return
        try:
            remote = parse_answer(call.offer)
        except (SdpError, ValueError) as error:
            leg.refuse(488, f"no usable audio in the offer: {error}")
            return
        mismatch = _family_mismatch(remote.address, self.settings.local_host)
        if mismatch is not None:
            leg.refuse(488, mismatch)
            return
        try:
            leg.rtp = await leg._open_media()
        except OSError as error:
            leg.refuse(503, f"no RTP port is free for the call's media ({error})")
            return
        if leg.ended:  # the caller gave up meanwhile: the engine never hears of the call
            leg._close_media()
            return
        leg.remote, leg.answer_sdp = answer_offer(
            call.offer, self.agent.advertised_host, leg.rtp.local_port, secrets.randbelow(2**31)
        )
        try:
            call_id = await self.incoming(inbound_offer(call.invite, to), leg.open)
        except CallRefused as refused:
            logger.info(
                "refused a call from %s to %s (%d): %s",
                call.invite.from_address.uri,
                to,
                refused.sip_code,
                refused.reason,
            )
            leg.refuse(refused.sip_code, refused.reason)
            return
        logger.info("call %s came in from %s to %s", call_id, call.invite.from_address.uri, to)

    def originate(
        self,
        call_id: str,
        to: str,
        from_: str,
        events: EventSink,
        caller: CallerId = NO_CALLER_ID,
    ) -> SipLeg:
        leg = SipLeg(self, call_id, to, from_, events, caller)
        self.legs[call_id] = leg
        self.activity.spawn(leg.place())
        return leg

    async def close(self) -> None:
        for leg in list(self.legs.values()):
            leg.hangup()
        if self._agent is not None:
            await self._agent.close()
        await self.audio.close()
