"""Shared fixtures: a real server on 127.0.0.1 with two provisioned accounts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.receiver import Receiver
from tests.support.server import RunningServer, start_server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("switchboard"))
    yield running
    running.stop()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[RunningServer]:
    running = start_server(tmp_path)
    yield running
    running.stop()


@pytest.fixture
def app() -> Iterator[Receiver]:
    """A webhook application on 127.0.0.1 that records what it receives."""
    receiver = Receiver().start()
    yield receiver
    receiver.stop()
