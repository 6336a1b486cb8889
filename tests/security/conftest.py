"""A real server for the hardening tests (issue 23), run exactly as `switchboard serve` runs
uvicorn (server.uvicorn_config: the guarded httptools protocol), on an event loop whose clock
the test moves: header-read and keep-alive timers see time pass without anyone waiting."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import orjson
import uvicorn

from switchboard.config import load_settings
from switchboard.server import create_app, prepare_data_dir, uvicorn_config
from tests.integration.api.test_keep_alive import MovableClockLoop
from tests.support.server import CONFIG


@dataclass
class GuardedServer:
    host: str
    port: int
    loop: MovableClockLoop
    uvicorn: uvicorn.Server

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def idle(self, seconds: float) -> None:
        """Let `seconds` pass on the server's clock, and let the timers they make due run."""

        async def move() -> None:
            self.loop.added += seconds
            for _ in range(10):
                await asyncio.sleep(0)

        asyncio.run_coroutine_threadsafe(move(), self.loop).result(10)

    def open_connections(self) -> int:
        async def count() -> int:
            return len(self.uvicorn.server_state.connections)

        return asyncio.run_coroutine_threadsafe(count(), self.loop).result(10)

    def until(self, condition: Callable[[], bool]) -> None:
        """Until the server's side has caught up with what the client did (an accept, a close
        happen on the server's loop after the client's call returns); bounded."""
        for _ in range(1000):
            if condition():
                return
            threading.Event().wait(0.005)
        raise AssertionError("the server never got there")

    def connect(self, counted: bool = True) -> socket.socket:
        """A new connection, once the server has it (its header timer then runs from now, on
        the clock `idle` moves). `counted=False`: one the server refuses at once."""
        before = self._connections()
        client = socket.create_connection((self.host, self.port), timeout=10)
        if counted:
            self.until(lambda: bool(self._connections() - before))
        return client

    def _connections(self) -> set[object]:
        async def snapshot() -> set[object]:
            return set(self.uvicorn.server_state.connections)

        return asyncio.run_coroutine_threadsafe(snapshot(), self.loop).result(10)


@contextmanager
def guarded_server(directory: Path, extra_config: str = "") -> Iterator[GuardedServer]:
    config_file = directory / "switchboard.toml"
    config_file.write_text(
        CONFIG.replace("[server]\n", '[server]\nlog_level = "error"\n', 1) + extra_config
    )
    settings = load_settings(config_file, port=0)
    prepare_data_dir(settings)
    server = uvicorn.Server(uvicorn_config(create_app(settings), settings))
    loop = MovableClockLoop()
    thread = threading.Thread(
        target=loop.run_until_complete, args=(server.serve(),), name="guarded-server"
    )
    thread.start()
    try:
        for _ in range(2000):
            if server.started or not thread.is_alive():
                break
            threading.Event().wait(0.01)
        assert server.started, "the server did not start"
        port = server.servers[0].sockets[0].getsockname()[1]
        yield GuardedServer("127.0.0.1", port, loop, server)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        loop.close()


def read_response(client: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response off a raw socket: status, headers, body (by Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = client.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before a response: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = client.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def assert_bandwidth_error(body: bytes, error_type: str) -> dict[str, object]:
    parsed = orjson.loads(body)
    assert set(parsed) == {"type", "description", "id"}, parsed
    assert parsed["type"] == error_type
    assert parsed["description"]
    return dict(parsed)


def closed_by_server(client: socket.socket) -> bool:
    """The server closed its side: reading gives end of file (after any answer)."""
    try:
        while True:
            chunk = client.recv(65536)
            if not chunk:
                return True
    except TimeoutError:
        return False
