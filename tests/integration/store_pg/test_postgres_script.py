"""The PostgreSQL the tests run on (issue 18): the session's server, fresh schemas, and
scripts/postgres.sh as a user runs it (start prints the URL last, stop is idempotent)."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.support.postgres import (
    connect,
    drop_schema,
    fresh_schema,
    installed,
    start_cluster,
    stop_cluster,
)

URL = re.compile(r"postgresql://\w+@127\.0\.0\.1:(\d+)/\w+")


def test_the_session_server_answers(postgres_url: str) -> None:
    with connect(postgres_url) as connection:
        assert connection.execute("SELECT 1").fetchone() == (1,)


def schemas(url: str) -> set[str]:
    with connect(url) as connection:
        rows = connection.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 't\\_%'")
        return {name for (name,) in rows}


def test_each_fresh_schema_is_new_empty_and_apart(postgres_url: str) -> None:
    first, second = fresh_schema(postgres_url), fresh_schema(postgres_url)
    try:
        assert first != second
        assert {first, second} <= schemas(postgres_url)
        with connect(postgres_url) as connection:
            empty = connection.execute(
                "SELECT count(*) FROM pg_class JOIN pg_namespace ON relnamespace = pg_namespace.oid"
                " WHERE nspname = ANY(%s)",
                ([first, second],),
            ).fetchone()
            assert empty == (0,)
            connection.execute(f"SET search_path TO {first}")
            connection.execute("CREATE TABLE calls (call_id TEXT PRIMARY KEY)")
            connection.execute("INSERT INTO calls VALUES ('c-1')")
            tables = connection.execute(
                "SELECT schemaname FROM pg_tables WHERE tablename = 'calls'"
            ).fetchall()
            assert tables == [(first,)]
            connection.execute(f"SET search_path TO {second}")
            with pytest.raises(psycopg.errors.UndefinedTable):
                connection.execute("SELECT * FROM calls")
    finally:
        drop_schema(postgres_url, first)
        drop_schema(postgres_url, second)
    assert not {first, second} & schemas(postgres_url)


@pytest.fixture
def two_dirs() -> Iterator[tuple[Path, Path]]:
    """Two directories in the system's temporary folder (user postgres must pass its parents),
    whose clusters are stopped and files removed whatever the test did."""
    if not installed():
        pytest.skip("PostgreSQL 15 is not installed: run scripts/install-postgres.sh")
    dirs = [Path(tempfile.mkdtemp(prefix="switchboard-pg-test-")) for _ in range(2)]
    yield dirs[0], dirs[1]
    for directory in dirs:
        stop_cluster(directory)
        shutil.rmtree(directory)


def answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=5) as connection:
            return connection.execute("SELECT 1").fetchone() == (1,)
    except psycopg.OperationalError:
        return False


@pytest.mark.slow
def test_the_script_stops_and_starts_another_cluster(two_dirs: tuple[Path, Path]) -> None:
    first_dir, second_dir = two_dirs
    first = start_cluster(first_dir)
    port = URL.fullmatch(first.url)
    assert port is not None, first.url
    assert answers(first.url)
    # Its unix socket is in its directory, not in /var/run/postgresql.
    socket = first_dir / f".s.PGSQL.{port.group(1)}"
    assert socket.is_socket()
    # A second start of a running cluster answers with the same URL.
    assert start_cluster(first_dir).url == first.url

    stop_cluster(first_dir)
    assert not answers(first.url)
    assert not socket.exists()
    stop_cluster(first_dir)  # stopped already: nothing to do, and no error

    second = start_cluster(second_dir)
    assert URL.fullmatch(second.url), second.url
    assert answers(second.url)
    with psycopg.connect(second.url) as connection:
        row = connection.execute("SHOW data_directory").fetchone()
    assert row == (str(second_dir / "data"),)
