"""SpeakSentence speech, synthesised offline with espeak-ng and cached.

espeak-ng runs as a subprocess (text on stdin, so no text is ever taken for an option; WAV on
stdout), with `-m` when the text carries SSML tags, which espeak-ng understands (<break>,
<emphasis>, <prosody>, <say-as>, ...). Its 22.05 kHz output is band-limited and resampled to
8 kHz. Results are cached by (text, voice, gender, locale) in an LRU bounded by bytes, and
concurrent requests for the same speech share one synthesis: a prompt that 200 callers hear at
once is synthesised once.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections import OrderedDict

from switchboard.bxml.speech import VOICES
from switchboard.media.decode import UnsupportedAudio, decode_audio

ESPEAK = "espeak-ng"
TIMEOUT_SECONDS = 30.0
MAX_TEXT_CHARS = 20_000
_SSML = re.compile(r"<\s*/?\s*[A-Za-z][^>]*>|&[A-Za-z#][A-Za-z0-9]*;")

# Locales as Bandwidth writes them (en_US, en_UK, es_MX, fr_CA, arb, cmn-CN, plain "de", ...),
# normalised to lower case with "-", → espeak-ng language names (`espeak-ng --voices`).
_LOCALES = {
    "en-us": "en-us",
    "en": "en-us",
    "en-uk": "en-gb",
    "en-gb": "en-gb",
    "en-au": "en-gb",
    "en-in": "en-gb",
    "es": "es",
    "es-es": "es",
    "es-mx": "es-419",
    "es-us": "es-419",
    "fr": "fr-fr",
    "fr-fr": "fr-fr",
    "fr-ca": "fr-fr",
    "de": "de",
    "de-de": "de",
    "it": "it",
    "it-it": "it",
    "pt": "pt",
    "pt-pt": "pt",
    "pt-br": "pt-br",
    "ja": "ja",
    "ja-jp": "ja",
    "ru": "ru",
    "ru-ru": "ru",
    "arb": "ar",
    "ar": "ar",
    "cmn-cn": "cmn",
    "zh-cn": "cmn",
    "cmn": "cmn",
    "nl": "nl",
    "nl-nl": "nl",
    "da": "da",
    "da-dk": "da",
    "pl": "pl",
    "pl-pl": "pl",
    "sv": "sv",
    "sv-se": "sv",
    "nb": "nb",
    "nb-no": "nb",
    "ko": "ko",
    "ko-kr": "ko",
    "hi": "hi",
    "hi-in": "hi",
    "tr": "tr",
    "tr-tr": "tr",
    "ro": "ro",
    "ro-ro": "ro",
    "is": "is",
    "is-is": "is",
    "cy": "cy",
    "cy-gb": "cy",
}
_FEMALE_VARIANT = "+f3"  # espeak-ng's voices are male; its variants give a female-like voice


class SynthesisError(RuntimeError):
    """Speech could not be synthesised: espeak-ng is missing, failed or timed out."""


def espeak_voice(voice: str | None, gender: str | None, locale: str | None) -> str:
    """The espeak-ng voice for Bandwidth's voice/gender/locale (voice wins, as Bandwidth says)."""
    named = VOICES.get(voice.strip().lower()) if voice else None
    if named is not None:  # Bandwidth's table of voices (bxml/speech.py): its locale and gender
        locale, gender = named
    key = (locale or "en_US").strip().lower().replace("_", "-")
    language = _LOCALES.get(key) or _LOCALES.get(key.split("-", 1)[0], "en-us")
    chosen_gender = (gender or "female").strip().lower()
    return language + (_FEMALE_VARIANT if chosen_gender != "male" else "")


class SpeechCache:
    """An LRU of synthesised PCM bounded by total bytes, with in-flight de-duplication."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._size = 0
        self._pending: dict[tuple[str, str], asyncio.Future[bytes]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, text: str, espeak: str) -> bytes:
        key = (text, espeak)
        cached = self._entries.get(key)
        if cached is not None:
            self._entries.move_to_end(key)
            return cached
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            pcm = await _run_espeak(text, espeak)
        except asyncio.CancelledError:
            future.cancel()  # callers sharing it were not cancelled themselves: they may retry
            raise
        except Exception as error:
            future.set_exception(error)
            future.exception()  # retrieved: waiters get it; nobody else must be warned
            raise
        finally:
            del self._pending[key]
        future.set_result(pcm)
        self._store(key, pcm)
        return pcm

    def _store(self, key: tuple[str, str], pcm: bytes) -> None:
        if len(pcm) > self.max_bytes:
            return
        self._entries[key] = pcm
        self._size += len(pcm)
        while self._size > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._size -= len(evicted)


_cache = SpeechCache()


async def synthesize(
    text: str, voice: str | None = None, gender: str | None = None, locale: str | None = None
) -> bytes:
    """Speech for `text` (plain or with SSML tags) as PCM16 8 kHz mono."""
    if len(text) > MAX_TEXT_CHARS:
        raise SynthesisError(f"text is {len(text)} characters; at most {MAX_TEXT_CHARS} are spoken")
    return await _cache.get(text, espeak_voice(voice, gender, locale))


async def _run_espeak(text: str, espeak: str) -> bytes:
    executable = shutil.which(ESPEAK)
    if executable is None:
        raise SynthesisError(f"{ESPEAK} is not installed (apt-get install espeak-ng)")
    arguments = [executable, "--stdin", "--stdout", "-v", espeak]
    if _SSML.search(text):
        arguments.insert(1, "-m")
    try:
        process = await asyncio.create_subprocess_exec(
            *arguments,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as error:  # no file descriptors left, a broken install...
        raise SynthesisError(f"{ESPEAK} could not be started: {error}") from None
    try:
        wav, errors = await asyncio.wait_for(
            process.communicate(text.encode("utf-8")), TIMEOUT_SECONDS
        )
    except TimeoutError:
        process.kill()
        await process.wait()
        raise SynthesisError(f"{ESPEAK} took longer than {TIMEOUT_SECONDS:.0f} s") from None
    except BaseException:
        if process.returncode is None:
            process.kill()
            await process.wait()
        raise
    if process.returncode != 0 or not wav:
        message = errors.decode("utf-8", "replace").strip() or f"exit status {process.returncode}"
        raise SynthesisError(f"{ESPEAK} failed for voice {espeak!r}: {message}")
    try:
        return decode_audio(wav, "audio/wav")
    except UnsupportedAudio as error:
        raise SynthesisError(f"{ESPEAK} produced unreadable audio: {error}") from None
