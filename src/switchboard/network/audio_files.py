"""Audio files for real calls: fetched whole over HTTP(S), decoded to 8 kHz PCM, remembered.

The simulated network only needs a file's duration (network/audio.py reads its header); a SIP
call has to play every sample, so this fetches the whole file (bounded), decodes WAV or MP3 and
keeps the decoded audio in a cache bounded by bytes: an IVR replays the same prompts.
Connections go through the same `DestinationPolicy` as webhooks (SSRF).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

import aiohttp

from switchboard.media.decode import UnsupportedAudio, decode_audio
from switchboard.network.audio import AudioError, GuardedFetcher
from switchboard.webhooks.guard import DestinationPolicy

MAX_FILE_BYTES = 50 * 1024 * 1024  # a one-hour 8 kHz 16-bit WAV is 57 MB; MP3s are far smaller
DEFAULT_CACHE_BYTES = 256 * 1024 * 1024


class UnsupportedAudioFile(AudioError):
    """The file was fetched but is not audio we can play: Bandwidth's `application-error`."""


class AudioFiles:
    def __init__(
        self,
        destinations: DestinationPolicy | None = None,
        timeout: float = 30.0,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        self._destinations = destinations or DestinationPolicy()
        self._timeout = timeout
        self._cache: OrderedDict[tuple[str, str | None, str | None], bytes] = OrderedDict()
        self._cache_bytes = cache_bytes
        self._cached_bytes = 0
        self._fetcher: GuardedFetcher | None = None

    async def pcm(self, url: str, username: str | None, password: str | None) -> bytes:
        """The file at `url` as PCM16 8 kHz mono. Raises AudioError (unreachable, HTTP error,
        too big) or UnsupportedAudioFile (not WAV/MP3, or broken)."""
        # Keyed with the credentials, as AudioDurations is: wrong ones must ask the server again.
        key = (url, username, password)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        data, content_type = await self._fetch(url, username, password)
        try:
            # In a thread: decoding and resampling a long file takes seconds, and the event
            # loop sends every call's RTP every 20 ms.
            pcm = await asyncio.to_thread(decode_audio, data, content_type)
        except UnsupportedAudio as error:
            raise UnsupportedAudioFile(f"Cannot play {url}: {error}") from None
        self._remember(key, pcm)
        return pcm

    def _remember(self, key: tuple[str, str | None, str | None], pcm: bytes) -> None:
        if len(pcm) > self._cache_bytes // 4:
            return  # one huge file must not push every prompt out
        self._cache[key] = pcm
        self._cached_bytes += len(pcm)
        while self._cached_bytes > self._cache_bytes:
            _, evicted = self._cache.popitem(last=False)
            self._cached_bytes -= len(evicted)

    async def _fetch(
        self, url: str, username: str | None, password: str | None
    ) -> tuple[bytes, str | None]:
        async def whole_file(response: aiohttp.ClientResponse) -> tuple[bytes, str | None]:
            if (response.content_length or 0) > MAX_FILE_BYTES:
                raise AudioError(f"Cannot play {url}: larger than {MAX_FILE_BYTES} bytes")
            data = await response.content.read(MAX_FILE_BYTES + 1)
            if len(data) > MAX_FILE_BYTES:
                raise AudioError(f"Cannot play {url}: larger than {MAX_FILE_BYTES} bytes")
            return data, response.headers.get("Content-Type")

        if self._fetcher is None:
            self._fetcher = GuardedFetcher(self._destinations, self._timeout)
        return await self._fetcher.get(url, username, password, whole_file)

    async def close(self) -> None:
        if self._fetcher is not None:
            await self._fetcher.close()
            self._fetcher = None
