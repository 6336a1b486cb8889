"""The hello-world baseline for bench/create_call.py: the same stack as Switchboard, nothing else.

Starlette + uvicorn + httptools + uvloop, served with the settings of `switchboard.server.serve`
(uvicorn.run with loop="uvloop", http="httptools", access_log=False, server_header=False), and one
trivial JSON POST route that reads the request body and answers a small JSON object rendered with
orjson, as the API does. Not part of the product: the benchmark starts it as its own process.

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

HELLO_PATH = "/hello"


class JsonResponse(Response):
    media_type = "application/json;charset=UTF-8"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


async def hello(request: Request) -> Response:
    await request.body()
    return JsonResponse({"hello": "world"})


app = Starlette(routes=[Route(HELLO_PATH, hello, methods=["POST"])])


def main() -> None:
    parser = argparse.ArgumentParser(description="hello-world baseline server for the benchmark")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level=args.log_level,
        access_log=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()
