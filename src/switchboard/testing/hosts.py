"""Send Bandwidth's hostnames to a Switchboard, inside this process only (issue 22).

For apps whose SDK hard-codes https://voice.bandwidth.com (bandwidth-sdk 15.x): within
`bandwidth_hosts(...)` this process resolves Bandwidth's names to Switchboard's TLS listener and
trusts the installation's CA for those names, so the app runs unchanged. Nothing outside the
process changes: no /etc/hosts, no root, no environment variables (which would not reach
clients that bring their own CA bundle, like bandwidth-sdk's certifi, anyway).

Stdlib only, so an app's own virtual environment can import it from Switchboard's source tree.
"""

from __future__ import annotations

import os
import socket
import ssl
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from switchboard.tls import BANDWIDTH_HOSTNAMES

_lock = threading.Lock()


def _name(host: object) -> str | None:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    return host.lower().rstrip(".") if isinstance(host, str) else None


@contextmanager
def bandwidth_hosts(
    host: str,
    port: int,
    ca_file: str | os.PathLike[str],
    hostnames: tuple[str, ...] = BANDWIDTH_HOSTNAMES,
) -> Iterator[None]:
    """Within the block, connections to `hostnames` (any port) go to `host`:`port`, and TLS
    clients verifying one of those names also trust `ca_file` (Switchboard's CA: `switchboard
    ca path`). Every other name resolves and verifies as before.

    Covers clients that resolve with socket.getaddrinfo and handshake with ssl.SSLContext
    (urllib3, requests, http.client, httpx, aiohttp on asyncio's default loop). Resolvers of
    their own (uvloop's, c-ares) bypass it. The patch is process-wide while the block runs:
    other threads' connections to Bandwidth's names are routed too.
    """
    names = frozenset(name.lower() for name in hostnames)
    ca = os.fspath(ca_file)
    with open(ca, "rb"):  # fail here, not at the first request, when the CA is missing
        pass
    trusted: weakref.WeakSet[ssl.SSLContext] = weakref.WeakSet()
    original_getaddrinfo = socket.getaddrinfo
    original_wrap_socket = ssl.SSLContext.wrap_socket
    original_wrap_bio = ssl.SSLContext.wrap_bio

    def getaddrinfo(
        name: Any, service: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> Any:
        if _name(name) in names:
            # The answer carries Switchboard's port, so a client asking for 443 connects there.
            return original_getaddrinfo(host, port, family, type, proto, flags)
        return original_getaddrinfo(name, service, family, type, proto, flags)

    def trust(context: ssl.SSLContext, server_hostname: object) -> None:
        # Added to the context's own store: whatever bundle the client loaded (certifi, the
        # system's) still applies, and the CA's name constraints keep it to Bandwidth's names.
        if _name(server_hostname) in names and context not in trusted:
            context.load_verify_locations(cafile=ca)
            trusted.add(context)

    def wrap_socket(self: ssl.SSLContext, sock: Any, *args: Any, **kwargs: Any) -> Any:
        trust(self, kwargs.get("server_hostname", args[3] if len(args) > 3 else None))
        return original_wrap_socket(self, sock, *args, **kwargs)

    def wrap_bio(self: ssl.SSLContext, incoming: Any, outgoing: Any, *args: Any, **kw: Any) -> Any:
        trust(self, kw.get("server_hostname", args[1] if len(args) > 1 else None))
        return original_wrap_bio(self, incoming, outgoing, *args, **kw)

    with _lock:
        socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
        ssl.SSLContext.wrap_socket = wrap_socket  # type: ignore[method-assign]
        ssl.SSLContext.wrap_bio = wrap_bio  # type: ignore[method-assign]
    try:
        yield
    finally:
        with _lock:
            socket.getaddrinfo = original_getaddrinfo
            ssl.SSLContext.wrap_socket = original_wrap_socket  # type: ignore[method-assign]
            ssl.SSLContext.wrap_bio = original_wrap_bio  # type: ignore[method-assign]
