"""PostgreSQL for the tests (issue 18): the session's server, and a fresh schema per test.

The server is SWITCHBOARD_TEST_POSTGRES_URL when it is set (a server someone else runs, e.g. a
CI service); otherwise a throwaway cluster that scripts/postgres.sh starts in a temporary
directory for the session and stops at its end, by the same script and the same directory, so
only what this session started is stopped. Without PostgreSQL 15 installed the tests that need
it skip, naming scripts/install-postgres.sh (`make test` runs it; under CI=true a skip fails the
run: tests/support/skip_rule.py).

The directory is made with tempfile rather than pytest's tmp_path: run as root, the server runs
as the user postgres, which cannot pass pytest's directories (mode 0700, owned by root).

Tests share one server and keep apart by schema: `fresh_schema(url)` creates an empty one with a
name no other test has, for `PostgresStore(url, schema=...)`.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

REPOSITORY = Path(__file__).resolve().parents[2]
SCRIPT = REPOSITORY / "scripts" / "postgres.sh"
URL_VARIABLE = "SWITCHBOARD_TEST_POSTGRES_URL"
# scripts/postgres.sh takes ~1 s (initdb and a start); its own waits are bounded at 60 s.
SCRIPT_SECONDS = 90
CONNECT_SECONDS = 10


def binaries() -> Path:
    """Where scripts/postgres.sh finds PostgreSQL 15 (the same override as the script's)."""
    return Path(os.environ.get("SWITCHBOARD_POSTGRES_BIN", "/usr/lib/postgresql/15/bin"))


def installed() -> bool:
    return (binaries() / "postgres").is_file()


def _script(action: str, directory: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["sh", str(SCRIPT), action, str(directory)],
        capture_output=True,
        text=True,
        timeout=SCRIPT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"scripts/postgres.sh {action} {directory} exited {result.returncode}:\n"
            f"{result.stderr}{result.stdout}"
        )
    return result


@dataclass(frozen=True)
class Cluster:
    """A cluster scripts/postgres.sh started in `directory`, answering at `url`."""

    directory: Path
    url: str

    def stop(self) -> None:
        stop_cluster(self.directory)


def start_cluster(directory: Path) -> Cluster:
    """`scripts/postgres.sh start DIR`: returns once the server accepts connections."""
    lines = _script("start", directory).stdout.splitlines()
    if not lines:
        raise RuntimeError(f"scripts/postgres.sh start {directory} printed no URL")
    return Cluster(directory, lines[-1])


def stop_cluster(directory: Path) -> None:
    """`scripts/postgres.sh stop DIR`: nothing to do when it is not running."""
    _script("stop", directory)


@contextmanager
def session_postgres() -> Iterator[str]:
    """The URL of the session's server; starts and stops a cluster unless one is given."""
    given = os.environ.get(URL_VARIABLE, "").strip()
    if given:
        yield given
        return
    if not installed():
        pytest.skip(
            f"PostgreSQL 15 is not installed in {binaries()}: run scripts/install-postgres.sh "
            f"(`make test` does), or set {URL_VARIABLE}"
        )
    directory = Path(tempfile.mkdtemp(prefix="switchboard-pg-"))
    with _watchdog(directory):
        yield start_cluster(directory).url
        stop_cluster(directory)  # here, so that its errors fail the session


# Waits for the end of its standard input, then stops the cluster and removes its directory
# (only once stopped: a server whose files vanish under it would still hold its port).
_WATCHDOG = 'cat >/dev/null; sh "$1" stop "$2" && rm -rf "$2"'


@contextmanager
def _watchdog(directory: Path) -> Iterator[None]:
    """Whatever ends this process - the end of the session, an error, SIGTERM from a timeout,
    SIGKILL - a cluster started in `directory` is stopped and the directory removed: a process
    of its own session (so Ctrl-C does not stop it first) waits for the end of a pipe that only
    this process holds, which the kernel closes when it exits."""
    watchdog = subprocess.Popen(
        ["sh", "-c", _WATCHDOG, "postgres-watchdog", str(SCRIPT), str(directory)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    assert watchdog.stdin is not None
    try:
        yield
    finally:
        watchdog.stdin.close()
        code = watchdog.wait(timeout=SCRIPT_SECONDS)
        if code != 0:
            raise RuntimeError(f"stopping the cluster in {directory} failed ({code})")


def connect(url: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_SECONDS)


def fresh_schema(url: str) -> str:
    """Creates an empty schema no other test uses, and returns its name (t_ and 12 hex digits)."""
    name = f"t_{secrets.token_hex(6)}"
    with connect(url) as connection:
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    return name


def drop_schema(url: str, name: str) -> None:
    """Drops a schema and everything in it (on a shared server, what a test leaves behind)."""
    with connect(url) as connection:
        connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
