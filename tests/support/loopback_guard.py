"""Nothing leaves 127.0.0.1: a pytest plugin that fails a test whose server reached outside.

At the start of the run this points SWITCHBOARD_TEST_LOOPBACK_ONLY at a fresh file. Every
Switchboard in this process (the test servers, and any sender or fetcher a test builds) and in
the processes the tests start (they inherit the environment) then refuses every destination
that is not loopback: a name other than localhost before it is resolved, an address before its
socket is made (src/switchboard/webhooks/guard.py, `refuse_outside_loopback`), and appends it to
the file. So nothing leaves the machine even when a test is wrong, and the test is failed:

- after each test, whatever was recorded while it ran fails it, at teardown. A call can reach
  out after the test that created it ended (a session server on a real clock answers two
  seconds later), so the message says the culprit may be an earlier test;
- whatever is recorded after the last test's teardown fails the run.

A test that means to try an outside host (the guard's own tests) takes what it caused with the
`outside_attempts` fixture, and the check after it sees nothing new.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from switchboard.webhooks.guard import LOOPBACK_ONLY


class OutsideAttempts:
    """The file the servers record refused destinations in, read from where it was last read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._read = 0

    def take(self) -> list[str]:
        """The lines ("resolve <host>", "connect <address>") recorded since the last take."""
        with self.path.open("rb") as record:
            record.seek(self._read)
            data = record.read()
        complete = data[: data.rfind(b"\n") + 1]  # a line still being written waits its turn
        self._read += len(complete)
        return complete.decode().splitlines()


_ATTEMPTS = pytest.StashKey[OutsideAttempts]()
_PREVIOUS = pytest.StashKey["str | None"]()


def pytest_configure(config: pytest.Config) -> None:
    descriptor, name = tempfile.mkstemp(prefix="switchboard-outside-", suffix=".log")
    os.close(descriptor)
    config.stash[_ATTEMPTS] = OutsideAttempts(Path(name))
    # A pytest started by a test (the guard's own tests) keeps its own record, then gives the
    # outer run's back.
    config.stash[_PREVIOUS] = os.environ.get(LOOPBACK_ONLY)
    os.environ[LOOPBACK_ONLY] = name


def pytest_unconfigure(config: pytest.Config) -> None:
    attempts = config.stash.get(_ATTEMPTS, None)
    if attempts is None:
        return
    previous = config.stash[_PREVIOUS]
    if previous is None:
        os.environ.pop(LOOPBACK_ONLY, None)
    else:
        os.environ[LOOPBACK_ONLY] = previous
    attempts.path.unlink(missing_ok=True)


def _explain(attempts: list[str]) -> str:
    return (
        "a test server tried to reach outside 127.0.0.1 (refused, nothing was sent): "
        + ", ".join(attempts)
        + ". Point every webhook and audio URL at 127.0.0.1, or use a callee that never answers;"
        " a call on a session server may have been created by an earlier test."
    )


@pytest.fixture(scope="session")
def outside_attempts(pytestconfig: pytest.Config) -> OutsideAttempts:
    """What the servers tried to reach outside 127.0.0.1; `take()` it to expect it."""
    return pytestconfig.stash[_ATTEMPTS]


@pytest.fixture(autouse=True)
def _nothing_leaves_loopback(outside_attempts: OutsideAttempts) -> Iterator[None]:
    earlier = outside_attempts.take()  # between tests: in a session fixture's setup, say
    yield
    attempts = earlier + outside_attempts.take()
    if attempts:
        pytest.fail(_explain(attempts), pytrace=False)


def pytest_sessionfinish(session: pytest.Session) -> None:
    attempts = session.config.stash.get(_ATTEMPTS, None)
    late = attempts.take() if attempts is not None else []
    if late:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("")
            reporter.write_line(f"after the last test, {_explain(late)}", red=True, bold=True)
