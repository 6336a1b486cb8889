"""A test server that also answers as Bandwidth's hostnames over TLS (issue 22): the listener
`switchboard serve` opens for `[server.tls]`, on a free port of 127.0.0.1."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from switchboard.config import TlsSettings, load_settings
from switchboard.tls.ca import tls_files
from switchboard.tls.listener import TlsListener
from tests.support.server import CONFIG, VirtualTimeServer, start_virtual_server


@dataclass
class TlsServer:
    server: VirtualTimeServer
    listener: TlsListener

    @property
    def port(self) -> int:
        return self.listener.port

    @property
    def ca_file(self) -> Path:
        return tls_files(self.server.data_dir).ca_cert


@contextmanager
def tls_server(directory: Path, config_text: str = CONFIG) -> Iterator[TlsServer]:
    """A virtual-time server with its TLS listener started the way `serve` starts it: after
    the app (on the same loop), and stopped before it."""
    server = start_virtual_server(directory, config_text)
    try:
        settings = dataclasses.replace(
            load_settings(directory / "switchboard.toml"), tls=TlsSettings(enabled=True, port=0)
        )
        listener = TlsListener(server.server.config, settings)
        server.run(listener.start())
        try:
            yield TlsServer(server, listener)
        finally:
            server.run(listener.stop(), timeout=30)
    finally:
        server.stop()
