"""How long an audio file plays: fetched over HTTP(S) and measured from its header.

WAV (RIFF) durations are exact (data size / byte rate). MP3 durations are estimated from the
first frame's bitrate and the file size (exact for constant bitrate). Anything else is an
unsupported format, which Bandwidth reports as `application-error`.

Redirects are followed (audio is commonly served through a CDN or a signed-URL redirect); every
connection, first hop or redirect target, is checked against the `DestinationPolicy`.
"""

from __future__ import annotations

import base64
import struct
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiohttp
from yarl import URL

from switchboard.webhooks.guard import DestinationPolicy, GuardedConnector, denial_in

T = TypeVar("T")
HEADER_BYTES = 64 * 1024
_MP3_BITRATES_KBPS = {
    # MPEG-1 Layer III, then MPEG-2/2.5 Layer III, indexed by the 4-bit bitrate field.
    1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0),
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0),
}


class AudioError(Exception):
    """The audio can't be played; the message says why, for the developer."""


def wav_duration(header: bytes) -> float:
    if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        raise AudioError("not a WAV file")
    position = 12
    byte_rate = None
    while position + 8 <= len(header):
        chunk_id = header[position : position + 4]
        (chunk_size,) = struct.unpack("<I", header[position + 4 : position + 8])
        body = position + 8
        if chunk_id == b"fmt " and chunk_size >= 16 and body + 16 <= len(header):
            (byte_rate,) = struct.unpack("<I", header[body + 8 : body + 12])
        elif chunk_id == b"data":
            if not byte_rate:
                raise AudioError("WAV file has no usable fmt chunk before its data")
            return float(chunk_size) / float(byte_rate)
        position = body + chunk_size + (chunk_size & 1)
    raise AudioError("WAV header incomplete: no data chunk in the first 64 KB")


def mp3_duration(header: bytes, total_size: int) -> float:
    start = 0
    if header[:3] == b"ID3" and len(header) >= 10:
        size = header[6:10]
        start = 10 + ((size[0] << 21) | (size[1] << 14) | (size[2] << 7) | size[3])
    for offset in range(start, min(len(header) - 4, start + 4096)):
        if header[offset] == 0xFF and header[offset + 1] & 0xE0 == 0xE0:
            version_bits = (header[offset + 1] >> 3) & 0x3
            layer_bits = (header[offset + 1] >> 1) & 0x3
            bitrate_index = header[offset + 2] >> 4
            if layer_bits != 0b01 or version_bits == 0b01:
                continue
            table = _MP3_BITRATES_KBPS[1 if version_bits == 0b11 else 2]
            kbps = table[bitrate_index]
            if kbps:
                return max(0, total_size - offset) * 8 / (kbps * 1000)
    raise AudioError("not an MP3 file (no MPEG layer III frame found)")


def duration_of(header: bytes, total_size: int, url: str) -> float:
    if header[:4] == b"RIFF":
        return wav_duration(header)
    if header[:3] == b"ID3" or (len(header) > 1 and header[0] == 0xFF and header[1] & 0xE0 == 0xE0):
        return mp3_duration(header, total_size)
    raise AudioError(
        f"Cannot play {url}: unsupported audio format (Switchboard plays WAV and MP3 files)"
    )


class AudioDurations:
    """Fetches audio headers and remembers durations by URL (an IVR replays the same prompts).

    `destinations` says which addresses may be connected to (by default, all of them).
    """

    def __init__(
        self,
        cache_size: int = 1024,
        timeout: float = 10.0,
        destinations: DestinationPolicy | None = None,
    ) -> None:
        self._cache: OrderedDict[tuple[str, str | None, str | None], float] = OrderedDict()
        self._cache_size = cache_size
        self._timeout = timeout
        self._destinations = destinations or DestinationPolicy()
        self._fetcher: GuardedFetcher | None = None

    @property
    def destinations(self) -> DestinationPolicy:
        return self._destinations

    async def duration(self, url: str, username: str | None, password: str | None) -> float:
        # Keyed with the credentials: a file fetched with the right ones must not play for a
        # verb that gives wrong ones (or none) without asking its server again.
        key = (url, username, password)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        seconds = await self._fetch(url, username, password)
        self._cache[key] = seconds
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return seconds

    async def _fetch(self, url: str, username: str | None, password: str | None) -> float:
        async def header_of(response: aiohttp.ClientResponse) -> float:
            header = await response.content.read(HEADER_BYTES)
            return duration_of(header, response.content_length or len(header), url)

        if self._fetcher is None:
            self._fetcher = GuardedFetcher(self._destinations, self._timeout)
        return await self._fetcher.get(url, username, password, header_of)

    async def close(self) -> None:
        if self._fetcher is not None:
            await self._fetcher.close()
            self._fetcher = None


class GuardedFetcher:
    """GETs an audio URL through the SSRF guard, with basic auth when given, and turns every
    way it can fail into an AudioError that names the URL (for the call's errorMessage)."""

    def __init__(self, destinations: DestinationPolicy, timeout: float) -> None:
        self._session = aiohttp.ClientSession(
            connector=GuardedConnector(destinations),
            timeout=aiohttp.ClientTimeout(total=timeout),
        )

    async def get(
        self,
        url: str,
        username: str | None,
        password: str | None,
        read: Callable[[aiohttp.ClientResponse], Awaitable[T]],
    ) -> T:
        """`read(response)` of a 2xx answer; AudioError for anything else."""
        headers = {}
        if username:
            pair = f"{username}:{password or ''}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        try:
            async with self._session.get(url, headers=headers, allow_redirects=True) as response:
                if response.status >= 400:
                    raise AudioError(f"Cannot play {url}: it answered HTTP {response.status}")
                return await read(response)
        except AudioError:
            raise
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            denial = denial_in(error)
            if denial is not None and isinstance(error, aiohttp.ClientConnectorError):
                raise AudioError(f"Cannot play {url}: {_hop(url, error)}{denial}") from None
            raise AudioError(f"Cannot play {url}: {type(error).__name__} {error}".strip()) from None

    async def close(self) -> None:
        await self._session.close()


def _hop(url: str, error: aiohttp.ClientConnectorError) -> str:
    """Names the redirect target when the refused connection was not to `url`'s own host."""
    try:
        first = URL(url)
    except ValueError:
        return ""
    if (error.host, error.port) == (first.raw_host, first.port):
        return ""
    host = f"[{error.host}]" if ":" in error.host else error.host
    return f"it redirected to {host}:{error.port}; "
