"""Shared fixtures: a real server on 127.0.0.1 with two provisioned accounts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from tests.support.receiver import Receiver
from tests.support.server import RunningServer, start_server
from tests.support.virtual_loop import VirtualTimeLoop

# Nothing leaves 127.0.0.1 (a test whose server tries an outside host fails), and skips fail
# the run under CI=true: see each module's docstring.
pytest_plugins = ["tests.support.loopback_guard", "tests.support.skip_rule"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "virtual_time: run the async test and its async fixtures on a loop whose clock jumps "
        "to the next timer (tests/support/virtual_loop.py)",
    )


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    """pytest-asyncio's way to choose an async test's loop; it wants one for every test."""
    if item.get_closest_marker("virtual_time") is not None:
        return {"virtual_time": VirtualTimeLoop}
    return {"asyncio": asyncio.new_event_loop}


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


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server for the session: SWITCHBOARD_TEST_POSTGRES_URL, or a throwaway
    cluster started and stopped by scripts/postgres.sh (tests/support/postgres.py)."""
    # Imported here so that a run without PostgreSQL tests does not load psycopg.
    from tests.support.postgres import session_postgres

    with session_postgres() as url:
        yield url
