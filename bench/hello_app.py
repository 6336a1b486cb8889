"""The hello-world baseline for bench/create_call.py: the same stack as Switchboard, nothing else.

Starlette + uvicorn + httptools + uvloop, served with the settings of `switchboard.server.serve`
(uvicorn.run with loop="uvloop", http="httptools", access_log=False, server_header=False, and
the same garbage-collector settings), answering a small JSON object rendered with orjson, as the
API does, to a JSON POST whose body it reads. Two routes, as Switchboard serves two kinds:
- POST /hello through a Starlette route (Starlette's middleware, routing, Request, Response),
  as Switchboard serves every path but one;
- POST /hello-raw answered by a raw ASGI layer in front of the same Starlette app, as
  Switchboard answers create-call (src/switchboard/api/create_call_path.py).
Not part of the product: the benchmark starts it as its own process.

    python bench/hello_app.py --port 8081 [--log-level warning]
"""

from __future__ import annotations

import argparse
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

try:
    from switchboard.collector import tune_garbage_collector
except ImportError:  # an older Switchboard (PYTHONPATH=old/src): its own settings, or none
    try:
        from switchboard.server import tune_garbage_collector
    except ImportError:

        def tune_garbage_collector() -> None:
            pass


HELLO_PATH = "/hello"
HELLO_RAW_PATH = "/hello-raw"
JSON_TYPE = "application/json;charset=UTF-8"


class JsonResponse(Response):
    media_type = JSON_TYPE

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


async def hello(request: Request) -> Response:
    await request.body()
    return JsonResponse({"hello": "world"})


class RawHello:
    """POST /hello-raw without Starlette's request cycle; everything else goes on to `app`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != HELLO_RAW_PATH:
            await self.app(scope, receive, send)
            return
        more = True
        while more:  # read the whole body, as the create-call path does
            message = await receive()
            more = message["type"] == "http.request" and message.get("more_body", False)
        content = orjson.dumps({"hello": "world"})
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-length", str(len(content)).encode("latin-1")),
                    (b"content-type", JSON_TYPE.encode("latin-1")),
                ],
            }
        )
        await send({"type": "http.response.body", "body": content})


app = RawHello(Starlette(routes=[Route(HELLO_PATH, hello, methods=["POST"])]))


def main() -> None:
    parser = argparse.ArgumentParser(description="hello-world baseline server for the benchmark")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args()
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level=args.log_level,
        access_log=False,
        server_header=False,
    )
    tune_garbage_collector()
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
