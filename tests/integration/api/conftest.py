"""A server for the API tests, and raw HTTP clients for it.

The calls these tests create must not live on: on a real clock each would ring, answer and
send webhooks to the made-up hosts in its body. On a virtual clock that nobody advances, a call
stays where creating it left it, so the tests see exactly what the API did and nothing leaves.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.server import PASSWORD, USERNAME, VirtualTimeServer, start_virtual_server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VirtualTimeServer]:
    running = start_virtual_server(tmp_path_factory.mktemp("api"))
    yield running
    running.stop()


@pytest.fixture(scope="session")
def api(server: VirtualTimeServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, auth=(USERNAME, PASSWORD), timeout=10) as client:
        yield client


@pytest.fixture(scope="session")
def anonymous(server: VirtualTimeServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        yield client
