"""The pytest plugin installed with Switchboard (entry point `pytest11`, name `switchboard`):
an application's own tests get a real Switchboard with no setup (docs/testing.md).

Fixtures:
- `switchboard`: a server started once per session on 127.0.0.1 (a free port) on a virtual
  clock, reset after each test (calls ended, phones and application as configured); see
  switchboard.testing.harness.Switchboard for what it offers.
- `switchboard_bandwidth_hosts`: `switchboard`, with this process's connections to
  Bandwidth's hostnames sent to it for the test (for SDKs with Bandwidth's URLs built in).

A test that fails after using `switchboard` shows the timelines of the calls it started.
Disable the plugin with `-p no:switchboard`.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

import pytest

from switchboard.testing.harness import Switchboard

# The session's server is kept here, not only in a fixture, so the report hook can find the
# calls of a failed test without the test naming anything but `switchboard`.
_SERVER_KEY = pytest.StashKey[Switchboard]()


@pytest.fixture(scope="session")
def switchboard_session(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Switchboard]:
    """The one server of the session. Tests use `switchboard`, which also resets it."""
    server = Switchboard(tmp_path_factory.mktemp("switchboard"))
    request.config.stash[_SERVER_KEY] = server
    try:
        yield server
    finally:
        del request.config.stash[_SERVER_KEY]
        server.stop()


@pytest.fixture
def switchboard(switchboard_session: Switchboard) -> Iterator[Switchboard]:
    """A real Switchboard on a virtual clock, quiet at the start of the test."""
    switchboard_session.begin_test()
    yield switchboard_session
    switchboard_session.reset()


@pytest.fixture
def switchboard_bandwidth_hosts(switchboard: Switchboard) -> Iterator[Switchboard]:
    """`switchboard`, reachable as voice.bandwidth.com (and Bandwidth's other names) over
    trusted TLS from this process, for the test."""
    with switchboard.bandwidth_hosts():
        yield switchboard


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when != "call" or not report.failed:
        return report
    if "switchboard" not in getattr(item, "fixturenames", ()):
        return report
    server = item.config.stash.get(_SERVER_KEY, None)
    if server is None:
        return report
    try:
        calls = server.calls()
    except Exception as error:  # the report must not hide the test's own failure
        text = f"(the calls could not be read: {error!r})"
    else:
        text = "\n\n".join(call.describe() for call in calls) or "(no call was made)"
    longrepr: Any = report.longrepr
    if hasattr(longrepr, "addsection"):
        longrepr.addsection("Switchboard: the test's calls", text)
    else:
        report.sections.append(("Switchboard: the test's calls", text))
    return report
