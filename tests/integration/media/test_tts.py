"""Speech from espeak-ng: 8 kHz PCM with speech in it, voices mapped, cached, errors clear."""

from __future__ import annotations

import array
import asyncio
import math
import shutil

import pytest

from switchboard.media import tts
from switchboard.media.tts import SynthesisError, espeak_voice, synthesize

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng missing")


def window_rms(pcm: bytes, start: float, end: float) -> float:
    samples = array.array("h", pcm)[round(start * 8000) : round(end * 8000)]
    return math.sqrt(sum(s * s for s in samples) / max(len(samples), 1))


async def test_speech_has_energy_and_a_plausible_length() -> None:
    pcm = await synthesize("Welcome to Switchboard. Please press one.", None, None, None)
    seconds = len(pcm) / 16000
    assert 1.0 < seconds < 6.0
    assert window_rms(pcm, 0.3, seconds - 0.3) > 1000  # speech, not silence


async def test_ssml_break_adds_a_silent_pause() -> None:
    plain = await synthesize("one two", None, None, None)
    with_break = await synthesize('one <break time="1500ms"/> two', None, None, None)
    assert len(with_break) - len(plain) > 1.2 * 16000


async def test_cache_returns_the_same_audio_and_shares_concurrent_work() -> None:
    text = "This sentence is cached."
    first, second = await asyncio.gather(
        synthesize(text, "kate", None, None), synthesize(text, "julie", None, None)
    )
    assert first is second  # both map to en-us+f3: one synthesis
    assert await synthesize(text, None, "female", "en_US") is first


async def test_other_languages_synthesise() -> None:
    for voice, gender, locale in (
        ("jorge", None, None),
        (None, "female", "fr_FR"),
        (None, None, "de_DE"),
    ):
        assert window_rms(await synthesize("uno dos tres", voice, gender, locale), 0.1, 0.8) > 500


def test_voice_mapping() -> None:
    assert espeak_voice(None, None, None) == "en-us+f3"  # Bandwidth's default: female en_US
    assert espeak_voice(None, "male", "en_US") == "en-us"
    assert espeak_voice("simon", "female", "es_MX") == "en-gb"  # voice wins over gender/locale
    assert espeak_voice("Bridget", None, None) == "en-gb+f3"
    assert espeak_voice(None, "male", "es_MX") == "es-419"
    assert espeak_voice(None, None, "pt_BR") == "pt-br+f3"
    assert espeak_voice(None, None, "fr_CA") == "fr-fr+f3"
    assert espeak_voice(None, None, "cmn-CN") == "cmn+f3"
    assert espeak_voice(None, None, "de") == "de+f3"
    assert espeak_voice("nobody", None, "xx_YY") == "en-us+f3"


async def test_missing_espeak_is_a_synthesis_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tts, "ESPEAK", "espeak-ng-that-is-not-installed")
    with pytest.raises(SynthesisError, match="not installed"):
        await synthesize("nobody hears this", None, None, "it_IT")
