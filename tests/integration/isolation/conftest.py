"""Two accounts on one server, and a client for each way in: A's user, B's user, B's OAuth
client, nobody. The clock is virtual and never moved here, so calls stay ringing and no
webhook leaves (tests/integration/isolation/test_secrets.py runs its own server)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.server import (
    CONFIG,
    OTHER_PASSWORD,
    OTHER_USERNAME,
    PASSWORD,
    USERNAME,
    VirtualTimeServer,
    start_virtual_server,
)

OTHER_CLIENT_ID = "bob-client"
OTHER_CLIENT_SECRET = "bob-client-secret"
# CONFIG ends inside account B, so this table is B's: an OAuth client of the other account.
CONFIG_WITH_OTHER_CLIENT = (
    CONFIG
    + f"""
  [[accounts.oauth_clients]]
  client_id = "{OTHER_CLIENT_ID}"
  client_secret = "{OTHER_CLIENT_SECRET}"
"""
)


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VirtualTimeServer]:
    running = start_virtual_server(tmp_path_factory.mktemp("isolation"), CONFIG_WITH_OTHER_CLIENT)
    yield running
    running.stop()


def _client(server: VirtualTimeServer, **kwargs: Any) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, timeout=10, **kwargs)


@pytest.fixture(scope="package")
def alice(server: VirtualTimeServer) -> Iterator[httpx.Client]:
    """Account A's API user."""
    with _client(server, auth=(USERNAME, PASSWORD)) as client:
        yield client


@pytest.fixture(scope="package")
def bob(server: VirtualTimeServer) -> Iterator[httpx.Client]:
    """Account B's API user."""
    with _client(server, auth=(OTHER_USERNAME, OTHER_PASSWORD)) as client:
        yield client


@pytest.fixture(scope="package")
def bob_client_credentials() -> tuple[str, str]:
    """client_id and client_secret of account B's OAuth client."""
    return OTHER_CLIENT_ID, OTHER_CLIENT_SECRET


@pytest.fixture(scope="package")
def bob_oauth(
    server: VirtualTimeServer, bob_client_credentials: tuple[str, str]
) -> Iterator[httpx.Client]:
    """Account B's OAuth client, with a bearer token from the token endpoint."""
    with _client(server) as anonymous:
        response = anonymous.post(
            "/api/v1/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=bob_client_credentials,
        )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    with _client(server, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


@pytest.fixture(scope="package")
def anonymous(server: VirtualTimeServer) -> Iterator[httpx.Client]:
    with _client(server) as client:
        yield client
