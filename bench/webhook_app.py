"""The voice application of the issue 3 benchmarks: a fast aiohttp webhook receiver.

Not part of the product: bench/call_flow.py and bench/concurrency.py start it as its own
process on 127.0.0.1. Every callback (any path) is answered by its eventType:

  mode "flow" (bench/call_flow.py; bench/inbound.py too)
    answer     -> <SpeakSentence> + <Gather gatherUrl="gather" maxDigits="1"> + <Hangup/>
                  (firstDigitTimeout="60", the longest: time_scale shrinks it too, and the
                  callee's key must win the race against it when the server's loop lags)
    initiate   -> the same document (an inbound call's first callback: its SpeakSentence
                  answers the call, so inbound and outbound calls run the same IVR)
    gather     -> <Hangup/> (the gatherUrl's answer replaces the rest of the document)
    answer under /transfer/ (bench/transfer.py: its calls' answerUrl is /transfer/answer)
               -> <Transfer transferCompleteUrl="transferComplete"> to TRANSFER_TARGET, with
                  transferAnswerUrl and transferDisconnectUrl (the transfer guide's flow)
    transferAnswer   -> 200 with an empty body (no whisper: the two calls are joined at once)
    transferComplete -> <Hangup/> (the target hung up; the original call ends too)
  mode "hold" (bench/concurrency.py)
    answer     -> <StartGather dtmfUrl="dtmf"/> + <Pause duration="3600"/>, or <Hangup/> when
                  the call's `to` is HANGUP_NUMBER (the warm-up calls)
    redirect   -> the same hold document again
  anything else (disconnect, dtmf...) -> 200 with an empty body

Every callback is recorded as one line `eventType<TAB>tag<TAB>callId<TAB>arrival<TAB>extra`
(arrival: CLOCK_MONOTONIC nanoseconds when the request reached the handler, comparable across
processes of this machine; extra: digits or cause) and streamed to every client of GET
/stream, which is how the load driver learns that a call ended or a digit arrived.
GET /stats answers the count of each eventType.

    python bench/webhook_app.py --port 9000 --mode flow|hold
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter

import orjson
import uvloop
from aiohttp import web

HANGUP_NUMBER = "+15555550999"
# The number bench/transfer.py's <Transfer> rings; that bench configures its virtual phone.
TRANSFER_TARGET = "+15555550700"
TRANSFER_PREFIX = "/transfer/"
XML = "application/xml"

FLOW_ANSWER = (
    b'<?xml version="1.0" encoding="UTF-8"?><Response>'
    b"<SpeakSentence>Hello</SpeakSentence>"
    b'<Gather gatherUrl="gather" maxDigits="1" firstDigitTimeout="60"/>'
    b"<Hangup/></Response>"
)
TRANSFER = (
    b'<?xml version="1.0" encoding="UTF-8"?><Response>'
    b'<Transfer transferCompleteUrl="transferComplete">'
    b'<PhoneNumber transferAnswerUrl="transferAnswer" transferDisconnectUrl="transferDisconnect">'
    + TRANSFER_TARGET.encode()
    + b"</PhoneNumber></Transfer></Response>"
)
HANGUP = b'<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>'
HOLD = (
    b'<?xml version="1.0" encoding="UTF-8"?><Response>'
    b'<StartGather dtmfUrl="dtmf"/><Pause duration="3600"/></Response>'
)


class Recorder:
    """Counts callbacks and streams one line per callback to every subscriber."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.counts: Counter[str] = Counter()
        self._subscribers: list[tuple[list[bytes], asyncio.Event]] = []

    def record(self, payload: dict[str, object], arrival_ns: int) -> None:
        event_type = str(payload.get("eventType", ""))
        self.counts[event_type] += 1
        if not self._subscribers:
            return
        extra = payload.get("digits") or payload.get("cause") or ""
        line = (
            f"{event_type}\t{payload.get('tag') or ''}\t{payload.get('callId', '')}\t"
            f"{arrival_ns}\t{extra}\n"
        ).encode()
        for pending, wake in self._subscribers:
            pending.append(line)
            wake.set()

    def answer_for(self, payload: dict[str, object], path: str = "/") -> bytes:
        event_type = payload.get("eventType")
        if self.mode == "flow":
            if event_type == "answer" and path.startswith(TRANSFER_PREFIX):
                return TRANSFER
            if event_type in ("answer", "initiate"):
                return FLOW_ANSWER
            if event_type in ("gather", "transferComplete"):
                return HANGUP
            return b""
        if event_type == "answer":
            return HANGUP if payload.get("to") == HANGUP_NUMBER else HOLD
        if event_type == "redirect":
            return HOLD
        return b""

    async def stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        pending: list[bytes] = []
        wake = asyncio.Event()
        subscriber = (pending, wake)
        self._subscribers.append(subscriber)
        try:
            while True:
                await wake.wait()
                wake.clear()
                # Everything that arrived since the last write goes out in one write.
                chunk = b"".join(pending)
                pending.clear()
                await response.write(chunk)
        finally:
            self._subscribers.remove(subscriber)


def build_app(mode: str) -> web.Application:
    recorder = Recorder(mode)

    async def callback(request: web.Request) -> web.Response:
        arrival_ns = time.monotonic_ns()
        payload = orjson.loads(await request.read())
        recorder.record(payload, arrival_ns)
        body = recorder.answer_for(payload, request.path)
        if body:
            return web.Response(body=body, content_type=XML)
        return web.Response(status=200)

    async def stats(request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(dict(recorder.counts)), content_type="text/json")

    app = web.Application()
    app.router.add_get("/stream", recorder.stream)
    app.router.add_get("/stats", stats)
    app.router.add_route("POST", "/{path:.*}", callback)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="webhook application for the benchmarks")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=("flow", "hold"), required=True)
    args = parser.parse_args()
    web.run_app(
        build_app(args.mode),
        host=args.host,
        port=args.port,
        access_log=None,
        print=None,
        backlog=1024,
        shutdown_timeout=1.0,
        loop=uvloop.new_event_loop(),
    )


if __name__ == "__main__":
    main()
