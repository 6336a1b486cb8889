"""G.711 tables against the stdlib's reference implementation, and known code points."""

from __future__ import annotations

import array
import math
import warnings

import pytest

from switchboard.media import g711

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

EVERY_SAMPLE = array.array("h", range(-32768, 32768)).tobytes()
EVERY_CODE = bytes(range(256))


@pytest.mark.parametrize(
    ("ours", "reference"),
    [(g711.ulaw_encode_tables, audioop.lin2ulaw), (g711.alaw_encode_tables, audioop.lin2alaw)],
)
def test_encode_tables_match_audioop_for_every_sample(ours, reference) -> None:  # type: ignore[no-untyped-def]
    assert ours(EVERY_SAMPLE) == reference(EVERY_SAMPLE, 2)


def test_fast_encoders_agree_with_the_tables() -> None:
    assert g711.ulaw_encode(EVERY_SAMPLE) == g711.ulaw_encode_tables(EVERY_SAMPLE)
    assert g711.alaw_encode(EVERY_SAMPLE) == g711.alaw_encode_tables(EVERY_SAMPLE)


def test_decoders_match_audioop_for_every_code() -> None:
    assert g711.ulaw_decode(EVERY_CODE) == audioop.ulaw2lin(EVERY_CODE, 2)
    assert g711.alaw_decode(EVERY_CODE) == audioop.alaw2lin(EVERY_CODE, 2)


def test_known_values_and_silence() -> None:
    zero = bytes(2)
    assert g711.ulaw_encode(zero) == bytes([g711.ULAW_SILENCE]) == b"\xff"
    assert g711.alaw_encode(zero) == bytes([g711.ALAW_SILENCE]) == b"\xd5"
    assert g711.silence_byte("PCMU") == 0xFF and g711.silence_byte("PCMA") == 0xD5
    full_scale = array.array("h", [32767, -32768]).tobytes()
    assert g711.ulaw_encode(full_scale) == b"\x80\x00"
    assert g711.alaw_encode(full_scale) == b"\xaa\x2a"
    assert array.array("h", g711.ulaw_decode(b"\x80\x00\xff\x7f")).tolist() == [32124, -32124, 0, 0]


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_round_trip_keeps_a_tone_within_g711_precision(codec: g711.Codec) -> None:
    samples = [round(12000 * math.sin(2 * math.pi * 1000 * n / 8000)) for n in range(800)]
    pcm = array.array("h", samples).tobytes()
    back = array.array("h", g711.decoder(codec)(g711.encoder(codec)(pcm)))
    assert len(back) == len(samples)
    # G.711 is logarithmic: the error is at most about 1/32 of the sample's magnitude (plus a step).
    assert all(abs(a - b) <= abs(a) / 30 + 16 for a, b in zip(samples, back, strict=True))


def test_odd_length_pcm_is_refused() -> None:
    with pytest.raises(ValueError):
        g711.ulaw_encode_tables(b"\x00\x00\x00")
