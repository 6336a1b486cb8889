"""Idle keep-alive connections stay open as long as load balancers and client pools keep theirs.

Bandwidth's SDK keeps its connections in a pool and reuses one after a pause. A server that
closes idle connections first (uvicorn's default: after 5 s) races every request sent on one;
the request then fails with "Remote end closed connection without response", and a POST is not
retried. The symptom is a race, so these tests watch its cause instead: whether the SDK's pooled
connection is still the same TCP connection after an idle pause. (When the server closed it
well before the next request, urllib3 quietly reconnects the same pooled connection object on a
new socket: no error, and no count of connections would show it, but the local port changes.)

Idle time is the loop's clock moved forward, not waited for: the server runs, exactly as
`switchboard serve` configures uvicorn (server.uvicorn_config), on an event loop whose clock the
test can move, so its keep-alive timers see 74 s pass at once. One slow test waits for real
seconds against a real `switchboard serve` process, to show the production loop agrees.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import urllib3
from bandwidth import ApiClient, Configuration
from bandwidth.api.calls_api import CallsApi

from switchboard.config import load_settings
from switchboard.server import create_app, prepare_data_dir, uvicorn_config
from tests.integration.reliability.process import ServerProcess, free_port
from tests.support.server import ACCOUNT_ID, CONFIG, PASSWORD, USERNAME

OLD_TIMEOUT = 5  # uvicorn's default, which Switchboard used to run with


class MovableClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock runs in real time plus whatever the test adds to it."""

    def __init__(self) -> None:
        super().__init__()
        self.added = 0.0

    def time(self) -> float:
        return super().time() + self.added


@dataclass
class Server:
    base_url: str
    loop: MovableClockLoop

    def idle(self, seconds: float) -> None:
        """Let `seconds` pass on the server's clock, and let every timer they make due run."""

        async def move() -> None:
            self.loop.added += seconds
            # The timers now due run on the next turn of the loop; a transport they close lets
            # go of its socket a turn or two after that.
            for _ in range(10):
                await asyncio.sleep(0)

        asyncio.run_coroutine_threadsafe(move(), self.loop).result(10)


@contextmanager
def running_server(directory: Path, server_settings: str = "") -> Iterator[Server]:
    assert CONFIG.lstrip().startswith("[server]\n")
    config_file = directory / "switchboard.toml"
    config_file.write_text(
        CONFIG.replace("[server]\n", f'[server]\nlog_level = "warning"\n{server_settings}\n', 1)
    )
    settings = load_settings(config_file, port=0)
    prepare_data_dir(settings)
    import uvicorn

    server = uvicorn.Server(uvicorn_config(create_app(settings), settings))
    loop = MovableClockLoop()
    thread = threading.Thread(
        target=loop.run_until_complete, args=(server.serve(),), name="keep-alive-server"
    )
    thread.start()
    try:
        for _ in range(2000):  # waiting for another thread to come up, as tests/support does
            if server.started or not thread.is_alive():
                break
            threading.Event().wait(0.01)
        assert server.started, "the server did not start"
        port = server.servers[0].sockets[0].getsockname()[1]
        yield Server(f"http://127.0.0.1:{port}", loop)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        loop.close()


def local_port(pool: urllib3.HTTPConnectionPool) -> int:
    """The local port of the pool's one idle connection: the TCP connection it would reuse."""
    assert pool.pool is not None
    (connection,) = [c for c in list(pool.pool.queue) if c is not None]
    assert connection.sock is not None, "the pool holds a connection without a socket"
    port: int = connection.sock.getsockname()[1]
    return port


@contextmanager
def sdk(base_url: str) -> Iterator[tuple[CallsApi, urllib3.HTTPConnectionPool]]:
    """The official SDK's CallsApi and the connection pool it sends its requests through."""
    configuration = Configuration(
        username=USERNAME,
        password=PASSWORD,
        host=f"{base_url}/api/v2",
        ignore_operation_servers=True,
    )
    with ApiClient(configuration) as client:
        pool = client.rest_client.pool_manager.connection_from_url(base_url)
        yield CallsApi(client), pool


def test_a_pooled_connection_idle_past_the_old_timeout_is_reused_until_75_s(
    tmp_path: Path,
) -> None:
    with running_server(tmp_path) as server, sdk(server.base_url) as (calls_api, pool):
        assert calls_api.list_calls(ACCOUNT_ID) == []
        first = local_port(pool)
        for idle in [OLD_TIMEOUT + 1, 30, 60, 74] * 5:
            server.idle(idle)
            assert calls_api.list_calls(ACCOUNT_ID) == []
            assert local_port(pool) == first  # twenty pauses, one connection

        server.idle(76)  # past the keep-alive timeout: the server did close it, and only now
        assert calls_api.list_calls(ACCOUNT_ID) == []
        assert local_port(pool) != first


def test_keep_alive_seconds_sets_how_long_an_idle_connection_stays_open(tmp_path: Path) -> None:
    with (
        running_server(tmp_path, "keep_alive_seconds = 10") as server,
        sdk(server.base_url) as (calls_api, pool),
    ):
        calls_api.list_calls(ACCOUNT_ID)
        first = local_port(pool)
        server.idle(9)
        calls_api.list_calls(ACCOUNT_ID)
        assert local_port(pool) == first

        server.idle(11)
        calls_api.list_calls(ACCOUNT_ID)
        assert local_port(pool) != first


@pytest.mark.slow
def test_switchboard_serve_keeps_an_idle_connection_past_the_old_timeout(tmp_path: Path) -> None:
    config = tmp_path / "switchboard.toml"
    config.write_text(CONFIG)
    process = ServerProcess(config, free_port()).start()
    try:
        with sdk(process.base_url) as (calls_api, pool):
            calls_api.list_calls(ACCOUNT_ID)
            first = local_port(pool)
            # Real idle time, inherent to what is tested: the real server on its real loop.
            time.sleep(OLD_TIMEOUT + 1)
            calls_api.list_calls(ACCOUNT_ID)
            assert local_port(pool) == first
    finally:
        process.stop()
