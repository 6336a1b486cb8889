"""What the HTTP guard (src/switchboard/http_guard.py, issue 23) costs per request.

    taskset -c 0 .venv/bin/python bench/http_guard_cost.py [--rounds 60] [--requests 5000]

Feeds the same create-call request (headers as the SDK sends them, a small JSON body) straight
into uvicorn's httptools protocol and into the guarded one, on one connection, with no sockets:
only the protocol layer differs. The ASGI app answers at once. Rounds alternate between the
two, and the minimum, 10th percentile and median per-request time of each are printed: on a
shared machine the low figures are the ones to compare. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import uvicorn
import uvloop
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from switchboard.hardening import HttpLimits
from switchboard.http_guard import guarded_protocol

REQUEST = (
    b"POST /api/v2/accounts/9900001/calls HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
    b"User-Agent: OpenAPI-Generator/1.0/python\r\nAccept: application/json\r\n"
    b"Content-Type: application/json\r\n"
    b"Authorization: Basic YWxpY2U6YWxpY2Utc2VjcmV0LXBhc3N3b3Jk\r\n"
    b'Content-Length: 18\r\n\r\n{"hello": "world"}'
)


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


class Transport(asyncio.Transport):
    """Takes what is written and drops it."""

    def __init__(self) -> None:
        super().__init__()
        self.closing = False

    def write(self, data: Any) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8080), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        pass


async def per_request_us(protocol_class: type[HttpToolsProtocol], requests: int) -> float:
    config = uvicorn.Config(app, log_level="warning")
    config.load()
    protocol = protocol_class(config=config, server_state=ServerState(), app_state={})
    protocol.connection_made(Transport())
    started = time.perf_counter()
    for _ in range(requests):
        protocol.data_received(REQUEST)
        await asyncio.sleep(0)  # the request's task runs and answers
        await asyncio.sleep(0)
    return (time.perf_counter() - started) / requests * 1e6


async def main(rounds: int, requests: int) -> None:
    classes = {"httptools": HttpToolsProtocol, "guarded": guarded_protocol(HttpLimits())}
    results: dict[str, list[float]] = {name: [] for name in classes}
    for _ in range(rounds):
        for name, protocol_class in classes.items():
            results[name].append(await per_request_us(protocol_class, requests))
    for name, values in results.items():
        values.sort()
        print(
            f"{name:10} min {values[0]:6.2f}  p10 {values[len(values) // 10]:6.2f}  "
            f"median {statistics.median(values):6.2f} us/request"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--requests", type=int, default=5000)
    args = parser.parse_args()
    uvloop.run(main(args.rounds, args.requests))
