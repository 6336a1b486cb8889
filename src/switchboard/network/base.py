"""The `Network` seam: place a call leg, hear what happens on it, tell it what to play.

A leg reports events through the callback it was given; the engine maps them to Bandwidth's
states and disconnect causes. Media requests (speak, play, silence, ring, send_dtmf) each end
with exactly one MediaFinished or MediaFailed, unless stop_media() cuts them short first
(then nothing is reported for them).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol


@dataclass(frozen=True, slots=True)
class Ringing:
    pass


@dataclass(frozen=True, slots=True)
class Answered:
    pass


@dataclass(frozen=True, slots=True)
class Busy:
    """The callee is busy (SIP 486/600); `sip_code` becomes the disconnect's sipResponseCode."""

    sip_code: int | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    """The callee declined (SIP 603) or hung up while it rang."""

    sip_code: int | None = None


@dataclass(frozen=True, slots=True)
class NoAnswer:
    """The network gave up ringing before callTimeout did (SIP 408/480): cause `timeout`."""

    sip_code: int | None = None


@dataclass(frozen=True, slots=True)
class Failed:
    """The network could not place the call (a SIP failure code, a broken trunk...)."""

    reason: str
    sip_code: int | None = None


@dataclass(frozen=True, slots=True)
class RemoteHangup:
    pass


@dataclass(frozen=True, slots=True)
class Digit:
    digit: str


@dataclass(frozen=True, slots=True)
class MediaFinished:
    """The media request numbered `generation` (Leg.media_generation) played to its end."""

    generation: int = 0


@dataclass(frozen=True, slots=True)
class MediaFailed:
    """The media could not be played; `cause` is a Bandwidth disconnect cause."""

    cause: str
    message: str
    generation: int = 0


LegEvent = (
    Ringing
    | Answered
    | Busy
    | Rejected
    | NoAnswer
    | Failed
    | RemoteHangup
    | Digit
    | MediaFinished
    | MediaFailed
)
EventSink = Callable[[LegEvent], None]


@dataclass(frozen=True, slots=True)
class CallerId:
    """What the callee is shown and sent besides the `from` number (createCall's displayName,
    privacy and uui): the SIP network puts them in the INVITE; virtual phones ignore them."""

    display_name: str | None = None
    privacy: bool = False
    uui: str | None = None  # the User-to-User header's value, encoding parameter included
    # The Diversion header's value (RFC 5806), most recent diversion first: a <Transfer> or
    # <Forward> of an inbound call with diversionTreatment propagate/stack.
    diversion: str | None = None


NO_CALLER_ID = CallerId()


class Leg(Protocol):
    # The SIP Call-ID of the leg's dialog (webhooks' sipCallId); None on the simulated network.
    sip_call_id: str | None

    @property
    def media_generation(self) -> int:
        """The number of the latest media request. MediaFinished/MediaFailed carry the number
        of the request they end, so that one already on its way when a newer request replaced
        it is not taken for the newer one's end."""
        ...

    def speak(
        self, text: str, voice: str | None, gender: str | None, locale: str | None
    ) -> None: ...

    def play(self, url: str, username: str | None, password: str | None) -> None: ...

    def silence(self, seconds: float) -> None: ...

    def ring(self, seconds: float) -> None: ...

    def send_dtmf(self, digits: str, tone_ms: float, interval_ms: float) -> None: ...

    def stop_media(self) -> None: ...

    def gather_started(self) -> None:
        """A Gather is listening: a simulated callee may press its keys now."""
        ...

    def hangup(self) -> None:
        """End the leg from our side: BYE when answered, CANCEL while ringing; on an inbound
        leg not answered yet, reject the call."""
        ...


class InboundLeg(Leg, Protocol):
    """The caller's leg of an inbound call: it arrives ringing, and we answer it."""

    def answer(self) -> None:
        """Answer the call (SIP 200 OK); media and keys flow from now on. Reports nothing:
        the runner changes the call's state itself."""
        ...

    def early_media(self) -> None:
        """Before answering: let the caller hear what plays (SIP 183 Session Progress), for
        <Ring answerCall="false">."""
        ...


@dataclass(frozen=True, slots=True)
class InboundOffer:
    """A call arriving from the network for one of our numbers (webhooks/initiate.mdx)."""

    to: str  # E.164
    from_: str
    uui: str | None = None  # the User-to-User header, encoding parameter included
    # The most recent Diversion header's parameters, `origTo` first (initiate.mdx).
    diversion: dict[str, str] | None = field(default=None)
    sip_call_id: str | None = None


class CallRefused(Exception):
    """The engine will not take an offered call. `reason` says why in words a person can act
    on; `sip_code` is what a SIP caller is answered (404 no such number, 503 over limits...)."""

    def __init__(self, reason: str, sip_code: int, kind: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.sip_code = sip_code
        self.kind = kind  # "not-found" | "account-limit" | "unavailable"


# The network hands an offer to the engine with a way to open the caller's leg once the call is
# stored: `open_leg(call_id, events)`. The engine returns the new callId or raises CallRefused.
OpenLeg = Callable[[str, EventSink], InboundLeg]
IncomingCalls = Callable[[InboundOffer, OpenLeg], Awaitable[str]]


class Room(Protocol):
    """Media between legs (DESIGN.md, "Calls with many legs"): the legs in it hear each other.
    One owner changes it: the call that runs the <Transfer>, <Bridge> or <Forward> opened it.
    Media never goes through mailboxes; on SIP a room relays RTP between its legs."""

    @property
    def leg_ids(self) -> tuple[str, ...]: ...

    def close(self) -> None:
        """The legs stop hearing each other (each leg stays up: its call ends it)."""
        ...


Track = Literal["inbound", "outbound"]
SAMPLE_RATE = 8000  # taps deliver 16-bit signed little-endian mono PCM at 8 kHz


@dataclass(frozen=True, slots=True)
class Audio:
    """A piece of a leg's audio (startStream.mdx's tracks: `inbound` is what the far end sent,
    `outbound` what Switchboard played to it), starting at `start` seconds on the engine's
    monotonic clock. Gaps between pieces are silence."""

    track: Track
    start: float
    pcm: bytes

    @property
    def seconds(self) -> float:
        return len(self.pcm) / (2 * SAMPLE_RATE)


@dataclass(frozen=True, slots=True)
class Voice:
    """Someone spoke on `track` from `start` to `end` (engine clock); `text` when the network
    knows what was said (the simulated network's phones), else None. For silence detection
    (<Record silenceTimeout>), answering-machine detection and transcription."""

    track: Track
    start: float
    end: float
    text: str | None = None


TapSink = Callable[[Audio | Voice], None]


class Tap(Protocol):
    """The one way to listen to a leg (DESIGN.md): recording uses it now; streams,
    transcription and AMD later. It delivers what happens after it is opened, in time order."""

    def close(self) -> None: ...


class TapsUnsupported(Exception):
    """This network cannot give a leg's audio yet."""


class RoomsUnsupported(Exception):
    """This network cannot join legs yet; the message says so in words for the app's author."""


class Network(Protocol):
    # Whether open_room can join legs (<Transfer>, <Bridge>, <Forward> check before they ring
    # anyone: a party who could never be heard is worse than an error).
    joins_legs: bool
    # Whether the Voice segments it reports carry the text that was said (the simulated
    # network's scripted speech): then a transcript is that text, not the speech engine's guess.
    knows_speech: bool

    def open_room(self, leg_ids: tuple[str, ...]) -> Room:
        """Join these legs (by the id they were placed or taken with) so they hear each other,
        or raise RoomsUnsupported."""
        ...

    def open_tap(self, leg_id: str, sink: TapSink) -> Tap:
        """Listen to a leg: its Audio (both tracks) and Voice segments go to `sink`, never
        re-entrantly, until the tap is closed or the leg ends. Raises TapsUnsupported."""
        ...

    async def start(self, incoming: IncomingCalls | None = None) -> None:
        """Bind what the network needs (the SIP network's socket) before the first call;
        calls that arrive are handed to `incoming` (None: refuse them all)."""
        ...

    def originate(
        self, call_id: str, to: str, from_: str, events: EventSink, caller: CallerId = NO_CALLER_ID
    ) -> Leg:
        """Start placing a call; events arrive through `events`, never re-entrantly."""
        ...

    async def close(self) -> None: ...
