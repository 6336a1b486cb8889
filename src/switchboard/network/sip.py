"""The SIP network: each call leg is an outgoing SIP dialog (sip/useragent.py) carrying RTP
media (media/rtp.py). It implements the same `Network` seam as the simulated network, so every
BXML verb does on a real call what it does on a virtual phone.

Outcomes map to Bandwidth's causes (docs/sip.md): 486/600 busy, 603 rejected, 408/480 timeout,
any other final failure `error`; the code travels as the disconnect's sipResponseCode and the
dialog's Call-ID as sipCallId.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
from collections.abc import Callable, Coroutine
from typing import Any

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
    Digit,
    EventSink,
    Failed,
    IncomingCalls,
    LegEvent,
    MediaFailed,
    MediaFinished,
    NoAnswer,
    Rejected,
    RemoteHangup,
    Ringing,
)
from switchboard.sip.settings import SipSettings
from switchboard.sip.useragent import OutgoingCall, SipUserAgent

logger = logging.getLogger("switchboard.network")

BUSY_CODES = frozenset({486, 600})
DECLINED_CODES = frozenset({603})
NO_ANSWER_CODES = frozenset({408, 480})


class SipLeg:
    """One outgoing call. Signalling callbacks (CallListener) and media completions arrive on
    the event loop; every event reaches the engine through call_soon, never re-entrantly."""

    def __init__(
        self,
        network: SipNetwork,
        call_id: str,
        to: str,
        from_: str,
        sink: EventSink,
        caller: CallerId = NO_CALLER_ID,
    ) -> None:
        self.network = network
        self.call_id = call_id
        self.to = to
        self.from_ = from_
        self.sink = sink
        self.caller = caller
        self.sip_call_id: str | None = None
        self.rtp: RtpSession | None = None
        self.dialog: OutgoingCall | None = None
        self.ringing = False
        self.answered = False
        self.ended = False
        self._media_generation = 0
        self._loop = asyncio.get_running_loop()

    @property
    def media_generation(self) -> int:
        return self._media_generation

    # -- placing the call --------------------------------------------------------------------
    async def place(self) -> None:
        settings = self.network.settings
        try:
            self.rtp = await RtpSession.open(
                settings.local_host,
                (settings.rtp_port_min, settings.rtp_port_max),
                on_digit=self._digit,
            )
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
                headers={"User-to-User": self.caller.uui} if self.caller.uui else None,
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

    # -- plumbing ------------------------------------------------------------------------------
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

    def _play_pcm(self, generation: int, pcm: bytes) -> None:
        if generation != self._media_generation or self.rtp is None:
            return
        self.rtp.play(pcm, self._finisher(generation))

    def _new_media(self) -> int:
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
        if self.rtp is not None:
            self.rtp.close()

    def _emit(self, event: LegEvent) -> None:
        self._loop.call_soon(self.sink, event)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        self.network.activity.spawn(coroutine)


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


class SipNetwork:
    """Places every call over SIP: `sip:` URIs directly, numbers through the configured proxy."""

    def __init__(self, settings: SipSettings, activity: Activity, audio: AudioFiles) -> None:
        self.settings = settings
        self.activity = activity
        self.audio = audio
        self.legs: dict[str, SipLeg] = {}
        self._agent: SipUserAgent | None = None

    @property
    def agent(self) -> SipUserAgent:
        if self._agent is None:
            raise RuntimeError("the SIP network was not started")
        return self._agent

    async def start(self, incoming: IncomingCalls | None = None) -> None:
        # Inbound calls on SIP are not accepted yet (the user agent refuses INVITEs); the
        # engine's handler is kept for when they are.
        self.incoming = incoming
        self._agent = await SipUserAgent.start(self.settings)  # it logs where it listens

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
