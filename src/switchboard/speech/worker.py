"""The speech engine in a process of its own, so that transcribing never stops the server.

PocketSphinx's extension never releases Python's GIL while it decodes (measured: an 8.3 s
recording held the event loop for 1.9 s even from a worker thread, 20 s of speech 2.9 s), and on
SIP every call's RTP is paced by that loop. So the engine runs in one child process,
`python -m switchboard.speech.worker`, started on the first transcription (which also loads the
model there instead of on the loop) and ending when the server does (its stdin closes). A plain
subprocess, not multiprocessing: that would import the parent's main script again in the child,
and Switchboard also runs embedded in other programs (its pytest plugin, an app's own script).
The child runs at a lower CPU priority (nice 10): a transcript is background work, a call's
media is not.

The protocol, on the child's stdin and stdout: a request is the sample rate and the byte length
(two little-endian uint32) then the PCM; an answer is a length (uint32) then JSON,
{"text", "confidence"} or {"error"}. One utterance at a time, in order.

`ProcessTranscriber.transcribe` keeps the `Transcriber` seam's blocking signature: callers
already run it in a thread (`asyncio.to_thread`), which now only waits for the child's answer.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import select
import struct
import subprocess
import sys
import threading
import time
from typing import IO

import orjson

from switchboard.speech.stt import TELEPHONE_RATE, PocketSphinxTranscriber, Transcript

# Lower than the server's (0): the engine's CPU goes to whatever the calls leave over.
WORKER_NICENESS = 10
# Seconds a child has to answer, beyond 4 s per second of audio.
ANSWER_SECONDS = 60.0
_REQUEST = struct.Struct("<II")  # sample rate, PCM bytes
_ANSWER = struct.Struct("<I")  # JSON bytes


class TranscriberWorkerError(RuntimeError):
    """The child failed or died: this transcription fails (its status says "error")."""


class ProcessTranscriber:
    """PocketSphinx (speech/stt.py) in a child process, behind the same blocking seam."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # one request on the pipe at a time
        self._child: subprocess.Popen[bytes] | None = None
        self._closes_at_exit = False

    def _process(self) -> subprocess.Popen[bytes]:
        child = self._child
        if child is not None and child.poll() is not None:
            self._stop(child)  # died while idle: its pipes closed, a new one started
            child = None
        if child is None:
            child = self._child = subprocess.Popen(
                [sys.executable, "-m", "switchboard.speech.worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                bufsize=0,  # unbuffered: waiting for the answer is a select() on the pipe
            )
            if not self._closes_at_exit:
                # Ended with this process, not left to the garbage collector (which warns of a
                # child still running and of its pipes unclosed).
                atexit.register(self.close)
                self._closes_at_exit = True
        return child

    def transcribe(self, pcm: bytes, sample_rate: int = TELEPHONE_RATE) -> Transcript:
        with self._lock:
            child = self._process()
            assert child.stdin is not None and child.stdout is not None
            # However long the engine may take (about 0.3 CPU s per second of audio, slower at
            # its low priority on a busy machine), a child that does not answer by then is stuck.
            deadline = time.monotonic() + ANSWER_SECONDS + 4 * len(pcm) / (2 * sample_rate)
            try:
                child.stdin.write(_REQUEST.pack(sample_rate, len(pcm)) + pcm)
                child.stdin.flush()
                (size,) = _ANSWER.unpack(_read(child.stdout, _ANSWER.size, deadline))
                answer = orjson.loads(_read(child.stdout, size, deadline))
            except (OSError, EOFError, ValueError, TimeoutError) as error:
                # Died (killed, out of memory) or garbled: the next transcription starts anew.
                self._stop(child)
                raise TranscriberWorkerError(
                    f"the speech engine's process failed: {error}"
                ) from None
        if "error" in answer:
            raise TranscriberWorkerError(str(answer["error"]))
        return Transcript(str(answer["text"]), float(answer["confidence"]))

    def worker_pid(self) -> int:
        """The child's process id (starting it if need be)."""
        with self._lock:
            return self._process().pid

    def close(self) -> None:
        with self._lock:
            if self._child is not None:
                self._stop(self._child)

    def _stop(self, child: subprocess.Popen[bytes]) -> None:
        self._child = None
        with contextlib.suppress(OSError):
            if child.stdin is not None:
                child.stdin.close()  # the child's cue to end
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()


def _read(stream: IO[bytes], size: int, deadline: float | None = None) -> bytes:
    data = b""
    while len(data) < size:
        if deadline is not None:
            ready, _, _ = select.select([stream], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError("the speech engine's process did not answer in time")
        chunk = stream.read(size - len(data))
        if not chunk:
            raise EOFError("the speech engine's process ended")
        data += chunk
    return data


def main() -> None:
    """The child: transcribe each request from stdin until stdin closes."""
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICENESS)
    # The protocol keeps the real stdout; anything a library prints goes to stderr instead.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    requests = sys.stdin.buffer
    engine: PocketSphinxTranscriber | None = None
    while True:
        try:
            sample_rate, size = _REQUEST.unpack(_read(requests, _REQUEST.size))
            pcm = _read(requests, size)
        except EOFError:
            return
        try:
            if engine is None:
                engine = PocketSphinxTranscriber()  # the model loads here, once
            transcript = engine.transcribe(pcm, sample_rate)
            answer = {"text": transcript.text, "confidence": transcript.confidence}
        except Exception as error:  # reported to the caller; the child goes on
            answer = {"error": f"{type(error).__name__}: {error}"}
        body = orjson.dumps(answer)
        answers.write(_ANSWER.pack(len(body)) + body)
        answers.flush()


if __name__ == "__main__":
    main()
