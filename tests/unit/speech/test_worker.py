"""The speech engine in its own process (speech/worker.py): the same transcript as in this
process, decoded in another process, while this process's event loop keeps running.

PocketSphinx never releases the GIL while it decodes, so in a thread it stopped the server's
event loop (every SIP call's RTP) for a quarter of the audio's length.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from collections.abc import Iterator

import pytest

from switchboard.media.tts import synthesize
from switchboard.speech import worker as worker_module
from switchboard.speech.stt import PocketSphinxTranscriber
from switchboard.speech.worker import ProcessTranscriber, TranscriberWorkerError

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed"),
]


@pytest.fixture(scope="module")
def worker() -> Iterator[ProcessTranscriber]:
    engine = ProcessTranscriber()
    yield engine
    engine.close()


async def test_the_worker_transcribes_as_this_process_would_in_another_process(
    worker: ProcessTranscriber,
) -> None:
    pcm = await synthesize("I am running late for dinner.", gender="male")
    here = PocketSphinxTranscriber().transcribe(pcm, 8000)
    there = await asyncio.to_thread(worker.transcribe, pcm, 8000)
    assert there == here  # the same seeded decoder: the same text and confidence
    assert "running" in there.text
    assert worker.worker_pid() != os.getpid()


async def test_the_event_loop_keeps_turning_while_the_worker_decodes(
    worker: ProcessTranscriber,
) -> None:
    # 20 s of speech: about 3 s of decoding, during which PocketSphinx in a thread of this
    # process held the GIL and this loop got no turn at all (measured: a 2.9 s gap).
    pcm = b"".join([await synthesize("Please call me back tomorrow morning.")] * 8)
    worker.transcribe(b"\0\0" * 8000, 8000)  # the child started and its model loaded
    loop = asyncio.get_running_loop()
    longest_gap, last = 0.0, loop.time()
    job = asyncio.ensure_future(asyncio.to_thread(worker.transcribe, pcm, 8000))
    while not job.done():
        await asyncio.sleep(0)
        now = loop.time()
        longest_gap, last = max(longest_gap, now - last), now
    assert "call" in (await job).text
    assert longest_gap < 1.0  # a lower bound on what the thread did, not a latency target


def test_a_child_that_died_is_replaced(worker: ProcessTranscriber) -> None:
    first = worker.worker_pid()
    os.kill(first, signal.SIGKILL)
    # Seen dead before the next request, it is replaced at once; seen while that request is
    # written or read, that one transcription fails (its status: error). Either way:
    with contextlib.suppress(TranscriberWorkerError):
        worker.transcribe(b"\0\0" * 8000, 8000)
    assert worker.transcribe(b"\0\0" * 8000, 8000).text == ""  # a new child answers
    assert worker.worker_pid() != first


def test_a_child_that_does_not_answer_in_time_is_replaced(
    worker: ProcessTranscriber, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_module, "ANSWER_SECONDS", 0.5)
    stuck = worker.worker_pid()
    os.kill(stuck, signal.SIGSTOP)  # alive, and answering nothing
    try:
        with pytest.raises(TranscriberWorkerError, match="did not answer in time"):
            worker.transcribe(b"\0\0" * 800, 8000)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(stuck, signal.SIGCONT)
    assert worker.transcribe(b"\0\0" * 8000, 8000).text == ""  # a new child answers
    assert worker.worker_pid() != stuck
