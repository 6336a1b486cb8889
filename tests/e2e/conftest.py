"""End-to-end fixtures: a server on a virtual clock, a webhook app, and an SDK client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bandwidth.api.calls_api import CallsApi

from tests.e2e.control import calls_api_for
from tests.support.receiver import Receiver
from tests.support.server import (
    CONFIG,
    PASSWORD,
    USERNAME,
    VirtualTimeServer,
    start_virtual_server,
)

PHONES = """
[simulator.default]
answer_after = 2.0

[[simulator.phones]]
number = "+15555550101"
outcome = "busy"

[[simulator.phones]]
number = "+15555550102"
outcome = "reject"

[[simulator.phones]]
number = "+15555550103"
outcome = "no-answer"

[[simulator.phones]]
number = "+15555550104"
outcome = "fail"

[[simulator.phones]]
number = "+15555550105"
answer_after = 1.0
digits = "1234#"

[[simulator.phones]]
number = "+15555550106"
answer_after = 1.0
hangup_after = 5.0

[[simulator.phones]]
number = "+15555550107"
answer_after = 1.0
digits = ["1", "2#"]

[[simulator.phones]]
number = "+15555550109"
answer_after = 1.0
digits = "12"
"""


@pytest.fixture(scope="module")
def vserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VirtualTimeServer]:
    directory: Path = tmp_path_factory.mktemp("virtual")
    running = start_virtual_server(directory, CONFIG + PHONES)
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def every_call_ends(vserver: VirtualTimeServer) -> Iterator[None]:
    """Each test ends the calls it makes, so none can leak webhooks into the next test."""
    yield
    live = list(vserver.engine.runners)
    if live:
        vserver.advance(3600)  # let them finish before the next test starts
    assert live == [], f"calls still live after the test: {live}"


@pytest.fixture
def other_app() -> Iterator[Receiver]:
    """A second webhook app, e.g. one that is slow without holding up the first."""
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def switchboard(vserver: VirtualTimeServer) -> Iterator[httpx.Client]:
    """A client for Switchboard's own API (timelines, simulator control), as the account's user."""
    with httpx.Client(base_url=vserver.base_url, auth=(USERNAME, PASSWORD)) as client:
        yield client


@pytest.fixture
def calls_api(vserver: VirtualTimeServer) -> Iterator[CallsApi]:
    with calls_api_for(vserver, USERNAME, PASSWORD) as calls_api:
        yield calls_api
