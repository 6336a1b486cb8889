"""The recorder: pieces on a timeline, silence between them, pauses cut out, one or two
channels, WAV and MP3 bytes a player can read."""

from __future__ import annotations

import io
import wave
from array import array

import pytest

from switchboard.network.base import Audio
from switchboard.recordings.model import iso_duration
from switchboard.recordings.recorder import Recorder, encode_mp3, encode_wav

RATE = 8000


def tone(seconds: float, value: int) -> bytes:
    return array("h", [value] * round(seconds * RATE)).tobytes()


def samples(pcm: bytes) -> array[int]:
    out = array("h")
    out.frombytes(pcm)
    return out


def test_pieces_land_at_their_time_with_silence_between() -> None:
    recorder = Recorder(100.0)
    recorder.add(Audio("outbound", 100.5, tone(1.0, 1000)))
    recorder.add(Audio("inbound", 102.0, tone(0.5, -2000)))
    audio = recorder.finish(103.0)
    assert (audio.channels, audio.seconds) == (1, 3.0)
    mixed = samples(audio.pcm[0])
    assert len(mixed) == 3 * RATE
    assert set(mixed[: RATE // 2]) == {0}
    assert set(mixed[RATE // 2 : RATE + RATE // 2]) == {1000}
    assert set(mixed[RATE + RATE // 2 : 2 * RATE]) == {0}
    assert set(mixed[2 * RATE : 2 * RATE + RATE // 2]) == {-2000}
    assert set(mixed[2 * RATE + RATE // 2 :]) == {0}


def test_overlapping_tracks_mix_and_clip_in_one_channel() -> None:
    recorder = Recorder(0.0)
    recorder.add(Audio("outbound", 0.0, tone(1.0, 30000)))
    recorder.add(Audio("inbound", 0.0, tone(1.0, 10000)))
    assert set(samples(recorder.finish(1.0).pcm[0])) == {32767}


def test_multichannel_puts_the_far_end_on_channel_0_and_our_audio_on_channel_1() -> None:
    recorder = Recorder(0.0, multichannel=True)
    recorder.add(Audio("inbound", 0.0, tone(1.0, 111)))
    recorder.add(Audio("outbound", 1.0, tone(1.0, 222)))
    audio = recorder.finish(2.0)
    left, right = (samples(pcm) for pcm in audio.pcm)
    assert set(left[:RATE]) == {111} and set(left[RATE:]) == {0}
    assert set(right[:RATE]) == {0} and set(right[RATE:]) == {222}
    with wave.open(io.BytesIO(encode_wav(audio))) as file:
        assert (file.getnchannels(), file.getframerate(), file.getnframes()) == (2, RATE, 2 * RATE)
        frames = samples(file.readframes(2))
        assert list(frames) == [111, 0, 111, 0]  # interleaved: channel 0, channel 1


def test_a_paused_span_is_not_in_the_file() -> None:
    recorder = Recorder(10.0)
    recorder.add(Audio("inbound", 10.0, tone(4.0, 500)))  # talks the whole time
    assert recorder.pause(11.0)
    assert not recorder.pause(11.5)  # already paused: nothing changes
    assert recorder.resume(13.0)
    assert not recorder.resume(13.5)
    audio = recorder.finish(14.0)
    assert audio.seconds == 2.0  # 4 s less the 2 paused
    assert set(samples(audio.pcm[0])) == {500}


def test_audio_before_the_start_or_after_the_end_is_dropped() -> None:
    recorder = Recorder(5.0)
    recorder.add(Audio("inbound", 4.0, tone(2.0, 7)))
    recorder.add(Audio("outbound", 5.5, tone(2.0, 9)))
    mixed = samples(recorder.finish(6.0).pcm[0])
    assert len(mixed) == RATE
    assert set(mixed[: RATE // 2]) == {7} and set(mixed[RATE // 2 :]) == {16}


def test_a_recording_still_paused_at_the_end_stops_at_the_pause() -> None:
    recorder = Recorder(0.0)
    recorder.add(Audio("inbound", 0.0, tone(3.0, 1)))
    recorder.pause(1.0)
    assert recorder.finish(3.0).seconds == 1.0


def test_mp3_is_an_mpeg_audio_stream() -> None:
    recorder = Recorder(0.0)
    recorder.add(Audio("inbound", 0.0, tone(1.0, 3000)))
    data = encode_mp3(recorder.finish(1.0))
    assert data[:2] in (b"\xff\xe3", b"\xff\xf3", b"\xff\xfb") or data[:3] == b"ID3"
    assert len(data) > 1000


@pytest.mark.parametrize(
    ("seconds", "text"), [(13.67, "PT13.67S"), (2.0, "PT2S"), (0.5, "PT0.5S"), (0.0, "PT0S")]
)
def test_durations_are_iso_8601_as_bandwidth_writes_them(seconds: float, text: str) -> None:
    assert iso_duration(seconds) == text


def test_overlapping_pieces_of_one_track_mix_instead_of_overwriting() -> None:
    recorder = Recorder(0.0)
    recorder.add(Audio("inbound", 0.0, tone(1.0, 1000)))  # the phone talks
    recorder.add(Audio("inbound", 0.5, tone(0.1, 300)))  # and presses a key meanwhile
    mixed = samples(recorder.finish(1.0).pcm[0])
    assert set(mixed[: RATE // 2]) == {1000}
    assert set(mixed[RATE // 2 : RATE // 2 + 800]) == {1300}
    assert set(mixed[RATE // 2 + 800 :]) == {1000}
