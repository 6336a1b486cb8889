"""A CallListener that records what a user of the UA would see, and checks how it is told."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

OFFER_TEMPLATE = (
    "v=0\r\n"
    "o=- 1 1 IN IP4 127.0.0.1\r\n"
    "s=Switchboard\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "t=0 0\r\n"
    "m=audio {port} RTP/AVP 0 8 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-15\r\n"
    "a=sendrecv\r\n"
)


def offer(port: int = 40000) -> bytes:
    return OFFER_TEMPLATE.format(port=port).encode()


class Recorder:
    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.events: list[tuple[object, ...]] = []
        self.progressed: asyncio.Future[tuple[int, bytes | None]] = loop.create_future()
        self.outcome: asyncio.Future[tuple[object, ...]] = loop.create_future()
        self.hung_up: asyncio.Future[None] = loop.create_future()
        self._inside_api = False

    @contextlib.contextmanager
    def calling_the_api(self) -> Iterator[None]:
        """Around invite/cancel/hangup: a callback seen inside would be re-entrant."""
        self._inside_api = True
        try:
            yield
        finally:
            self._inside_api = False

    def _record(self, *event: object) -> None:
        assert not self._inside_api, f"{event[0]} called re-entrantly"
        self.events.append(event)

    def on_progress(self, status: int, sdp: bytes | None) -> None:
        self._record("progress", status, sdp)
        if not self.progressed.done():
            self.progressed.set_result((status, sdp))

    def on_answered(self, sdp: bytes) -> None:
        self._record("answered", sdp)
        if not self.outcome.done():
            self.outcome.set_result(("answered", sdp))

    def on_failed(self, status: int, reason: str) -> None:
        self._record("failed", status, reason)
        if not self.outcome.done():
            self.outcome.set_result(("failed", status, reason))

    def on_remote_bye(self) -> None:
        self._record("remote_bye")
        if not self.hung_up.done():
            self.hung_up.set_result(None)

    async def result(self, seconds: float = 10.0) -> tuple[object, ...]:
        return await asyncio.wait_for(asyncio.shield(self.outcome), seconds)

    def finals(self) -> list[tuple[object, ...]]:
        return [event for event in self.events if event[0] in ("answered", "failed")]
