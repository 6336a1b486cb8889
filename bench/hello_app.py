"""The hello-world baseline for bench/create_call.py: the same stack as Switchboard, nothing else.

Starlette + uvicorn + httptools + uvloop, served with the settings of `switchboard.server.serve`
(uvicorn.run with loop="uvloop", http="httptools", access_log=False, server_header=False, and
the same garbage-collector settings), answering a small JSON object rendered with orjson, as the
API does, to a JSON POST whose body it reads. Two routes, as Switchboard serves two kinds:
- POST /hello through a Starlette route (Starlette's middleware, routing, Request, Response),
  as Switchboard serves every path but one;
- POST /hello-raw answered by a raw ASGI layer in front of the same Starlette app, as
  Switchboard answers create-call (src/switchboard/api/create_call_path.py).
With --data-dir, a third route measures the floor under create-call:
- POST /hello-insert: /hello-raw plus one durable insert of a call row through Switchboard's
  own store (SqliteStore.insert_call: the row builder, the writer thread's group commit, the
  same schema and indexes) before the answer. No authentication, validation, engine or
  metrics: what create-call would cost if it only had to store the call.
Not part of the product: the benchmark starts it as its own process.

    python bench/hello_app.py --port 8081 [--log-level warning] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

# This script's folder is on sys.path; common imports only the standard library.
from common import ACCOUNT_ID, HELLO_INSERT_PATH, HELLO_PATH, HELLO_RAW_PATH, call_body

try:
    from switchboard.collector import tune_garbage_collector
except ImportError:  # an older Switchboard (PYTHONPATH=old/src): its own settings, or none
    try:
        from switchboard.server import tune_garbage_collector
    except ImportError:

        def tune_garbage_collector() -> None:
            pass


JSON_TYPE = "application/json;charset=UTF-8"


class JsonResponse(Response):
    media_type = JSON_TYPE

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


async def hello(request: Request) -> Response:
    await request.body()
    return JsonResponse({"hello": "world"})


class RawHello:
    """POST /hello-raw (and /hello-insert, given a store) without Starlette's request cycle;
    everything else goes on to `app`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.inserter: CallInserter | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] not in (HELLO_RAW_PATH, HELLO_INSERT_PATH)
        ):
            await self.app(scope, receive, send)
            return
        more = True
        while more:  # read the whole body, as the create-call path does
            message = await receive()
            more = message["type"] == "http.request" and message.get("more_body", False)
        status = 200
        if scope["path"] == HELLO_INSERT_PATH:
            if self.inserter is None:
                raise RuntimeError(f"{HELLO_INSERT_PATH} needs --data-dir")
            await self.inserter.insert()
            status = 201
        content = orjson.dumps({"hello": "world"})
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-length", str(len(content)).encode("latin-1")),
                    (b"content-type", JSON_TYPE.encode("latin-1")),
                ],
            }
        )
        await send({"type": "http.response.body", "body": content})


class CallInserter:
    """Stores a copy of one call, under a new call id each time, as CallService.create does."""

    def __init__(self, data_dir: Path) -> None:
        # Imported here: the other routes also serve older trees (PYTHONPATH=old/src).
        from switchboard.calls.create_request import parse_create_call
        from switchboard.calls.ids import new_call_id
        from switchboard.calls.model import INITIATED, Call
        from switchboard.store.sqlite import SqliteStore

        self._new_call_id = new_call_id
        self._account_id = ACCOUNT_ID
        self.store = SqliteStore(data_dir / "switchboard.db")
        now = datetime.now(UTC)
        self._template = Call(
            call_id=new_call_id(),
            account_id=ACCOUNT_ID,
            request=parse_create_call(orjson.loads(call_body())),
            call_url="",
            enqueued_time=now,
            state=INITIATED,
            start_time=now,
            last_update=now,
        )

    async def insert(self) -> None:
        call_id = self._new_call_id()
        now = datetime.now(UTC)
        call = replace(
            self._template,
            call_id=call_id,
            call_url=f"http://127.0.0.1/api/v2/accounts/{self._account_id}/calls/{call_id}",
            enqueued_time=now,
            start_time=now,
            last_update=now,
        )
        await self.store.insert_call(call)


raw_hello = RawHello(Starlette(routes=[Route(HELLO_PATH, hello, methods=["POST"])]))
app: ASGIApp = raw_hello


def with_store(data_dir: Path) -> ASGIApp:
    """The app, with the store of /hello-insert opened and closed by the ASGI lifespan."""
    inserter = raw_hello.inserter = CallInserter(data_dir)

    async def lifespan(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await raw_hello(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await inserter.store.open()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await inserter.store.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    return lifespan


def main() -> None:
    parser = argparse.ArgumentParser(description="hello-world baseline server for the benchmark")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--data-dir", type=Path, help=f"serve {HELLO_INSERT_PATH} on a store here")
    args = parser.parse_args()
    config = uvicorn.Config(
        app if args.data_dir is None else with_store(args.data_dir),
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
