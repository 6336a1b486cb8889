"""The TLS listener `serve` opens beside the plain one when `[server.tls] enabled = true`.

It is a second uvicorn server in the same process and event loop, serving the same ASGI app
(so the same accounts, store and engine): only the main server runs the app's lifespan; this
one is started after it and stopped before it. Its socket is bound at construction, before
anything starts, so a busy port or a port below 1024 without the capability fails the start
cleanly instead of leaving a half-started server.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import uvicorn

from switchboard.config import Settings
from switchboard.tls.ca import ensure_leaf


def certificate_files(settings: Settings) -> tuple[Path, Path]:
    """The user's own certificate and key, else the installation CA's leaf for Bandwidth's
    hostnames (made or renewed now)."""
    tls = settings.tls
    if tls.cert_file is not None and tls.key_file is not None:
        return tls.cert_file, tls.key_file
    files = ensure_leaf(settings.data_dir)
    return files.leaf_cert, files.leaf_key


class TlsListener:
    """The app on a TLS socket. `start` and `stop` run on the main server's event loop."""

    def __init__(self, base: uvicorn.Config, settings: Settings) -> None:
        cert_file, key_file = certificate_files(settings)
        config = uvicorn.Config(
            base.app,
            host=settings.tls.host,
            port=settings.tls.port,
            ssl_certfile=str(cert_file),
            ssl_keyfile=str(key_file),
            # The main server runs the app's lifespan (store, engine) once for both.
            lifespan="off",
            loop=base.loop,
            http=base.http,
            log_level=base.log_level,
            log_config=None,  # the main server's config already set logging up
            access_log=base.access_log,
            server_header=base.server_header,
            proxy_headers=base.proxy_headers,
            timeout_keep_alive=base.timeout_keep_alive,
        )
        config.load()  # reads the certificate and key now: a bad pair fails the start
        self.server = uvicorn.Server(config)
        self.server.lifespan = config.lifespan_class(config)
        self.socket: socket.socket = config.bind_socket()

    @property
    def port(self) -> int:
        port: int = self.socket.getsockname()[1]
        return port

    async def start(self) -> None:
        await self.server.startup(sockets=[self.socket])

    async def stop(self) -> None:
        if not self.server.started:
            self.socket.close()
            return
        for connection in list(self.server.server_state.connections):
            cycle: Any = getattr(connection, "cycle", None)
            if cycle is None or cycle.response_complete:
                # Idle keep-alive connection. Closing TLS politely waits for the client's
                # close_notify, which an idle pooled client never sends: uvicorn's shutdown
                # would wait out the SSL shutdown timeout (30 s) per connection.
                transport: Any = getattr(connection, "transport", None)
                if transport is not None:
                    transport.abort()
        await self.server.shutdown(sockets=[self.socket])
