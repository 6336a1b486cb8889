"""One schema history for both backends (issue 18): SQLite's migrations (store/schema.py) and
PostgreSQL's (store/pg_schema.py) make the same tables, columns, keys and indexes, version for
version, and `switchboard db upgrade` brings either to the latest version once.

Each database is read back from its own catalog (SQLite: sqlite_master and the PRAGMAs;
PostgreSQL: information_schema and pg_catalog), so what is compared is what the migrations made,
not what their text says. Column types are left out: they differ by dialect on purpose (REAL /
DOUBLE PRECISION, and leases and token buckets as TIMESTAMPTZ of the database's clock on
PostgreSQL, ISO text on SQLite: pg_schema.py's migrations 9 and 10).

Left out as version keeping, not shape: SQLite's internal tables (`sqlite_sequence`, made by
AUTOINCREMENT) and PostgreSQL's `schema_version` (the row per applied migration that SQLite
keeps in PRAGMA user_version). Both backends have `meta` (the provisioning generation).
"""

from __future__ import annotations

import functools
import os
import re
import secrets
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg
import pytest

from switchboard.config import Settings, redact_database_url
from switchboard.store import factory, pg_schema, schema
from switchboard.store.sql import PostgresConnection
from tests.support.postgres import connect, drop_schema, fresh_schema

LATEST = len(schema.MIGRATIONS)
CLI_SECONDS = 60  # a `switchboard db upgrade` takes ~1 s; bounded so a hang fails, not stalls
# Version 5 on SQLite indexes the queue wait by an expression (and the cause on every call)
# that version 6 replaces; PostgreSQL's 5 skips both and makes 6's at 6 (pg_schema.py, 5).
# Everywhere else the indexes are the same.
INDEXES_ONLY_ON_SQLITE = {5: {"calls": {"calls_by_account_wait", "calls_by_account_cause"}}}


@dataclass(frozen=True)
class Index:
    columns: tuple[str | None, ...]  # None: an expression
    unique: bool
    partial: bool


@dataclass(frozen=True)
class Table:
    columns: frozenset[str]
    # Columns that refuse NULL, primary keys aside: SQLite lets a non-INTEGER PRIMARY KEY
    # hold NULL (a compatibility quirk of its rowid tables) where PostgreSQL does not.
    not_null: frozenset[str]
    primary_key: tuple[str, ...]
    indexes: dict[str, Index]  # created by CREATE INDEX: not the ones keys make
    foreign_keys: frozenset[tuple[str, str, str, str]]  # (column, table, column, ON DELETE)
    trigger_events: frozenset[str]  # INSERT / UPDATE / DELETE (the provisioning generation)


Shape = dict[str, Table]


# -- reading each catalog --------------------------------------------------------------------
def sqlite_shape(connection: sqlite3.Connection) -> Shape:
    tables = [
        name
        for (name,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    triggers: dict[str, set[str]] = {}
    for table, sql in connection.execute(
        "SELECT tbl_name, sql FROM sqlite_master WHERE type = 'trigger'"
    ):
        match = re.search(r"\b(INSERT|UPDATE|DELETE)\s+ON\b", sql, re.IGNORECASE)
        assert match is not None, sql
        triggers.setdefault(table, set()).add(match.group(1).upper())
    shape: Shape = {}
    for table in tables:
        info = connection.execute(f"PRAGMA table_info('{table}')").fetchall()
        # (cid, name, type, notnull, default, pk): pk is the column's place in the key, from 1.
        key = tuple(row[1] for row in sorted((row for row in info if row[5]), key=lambda r: r[5]))
        indexes: dict[str, Index] = {}
        # (seq, name, unique, origin, partial): origin 'c' is CREATE INDEX; 'pk'/'u' keys'.
        for _, name, unique, origin, partial in connection.execute(f"PRAGMA index_list('{table}')"):
            if origin != "c":
                continue
            # index_xinfo: (seqno, cid, name, desc, coll, key); an expression has cid -2.
            columns = tuple(
                row[2] if row[1] >= 0 else None
                for row in connection.execute(f"PRAGMA index_xinfo('{name}')")
                if row[5]
            )
            indexes[name] = Index(columns, bool(unique), bool(partial))
        foreign_keys = frozenset(
            # (id, seq, table, from, to, on_update, on_delete, match)
            (row[3], row[2], row[4], row[6])
            for row in connection.execute(f"PRAGMA foreign_key_list('{table}')")
        )
        shape[table] = Table(
            columns=frozenset(row[1] for row in info),
            not_null=frozenset(row[1] for row in info if row[3] and not row[5]),
            primary_key=key,
            indexes=indexes,
            foreign_keys=foreign_keys,
            trigger_events=frozenset(triggers.get(table, ())),
        )
    return shape


_ON_DELETE = {
    "a": "NO ACTION",
    "r": "RESTRICT",
    "c": "CASCADE",
    "n": "SET NULL",
    "d": "SET DEFAULT",
}


def postgres_shape(raw: psycopg.Connection[tuple[object, ...]], name: str) -> Shape:
    def rows(query: str) -> list[tuple[object, ...]]:
        return raw.execute(query, {"schema": name}).fetchall()

    tables = [
        str(table)
        for (table,) in rows(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = %(schema)s AND table_type = 'BASE TABLE'"
        )
        if table != "schema_version"
    ]
    columns: dict[str, dict[str, bool]] = {}
    for table, column, nullable in rows(
        "SELECT table_name, column_name, is_nullable FROM information_schema.columns "
        "WHERE table_schema = %(schema)s"
    ):
        columns.setdefault(str(table), {})[str(column)] = nullable == "NO"
    # Each index's key columns in order (attnum 0: an expression), and what it is for.
    index_rows = rows(
        """
        SELECT t.relname, i.relname, x.indisprimary, x.indisunique, x.indpred IS NOT NULL,
               c.oid IS NOT NULL,
               array(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY AS k(attnum, n)
                     LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
                     ORDER BY k.n)
        FROM pg_index x
        JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_class t ON t.oid = x.indrelid
        JOIN pg_namespace s ON s.oid = t.relnamespace
        LEFT JOIN pg_constraint c ON c.conindid = x.indexrelid
        WHERE s.nspname = %(schema)s
        """
    )
    listed = {
        (str(t), str(i))
        for t, i in rows(
            "SELECT tablename, indexname FROM pg_indexes WHERE schemaname = %(schema)s"
        )
    }
    assert listed == {(str(row[0]), str(row[1])) for row in index_rows}  # both catalogs agree
    primary_keys: dict[str, tuple[str, ...]] = {}
    indexes: dict[str, dict[str, Index]] = {}
    for table, index, primary, unique, partial, constraint, keys in index_rows:
        assert isinstance(keys, list)
        if primary:
            primary_keys[str(table)] = tuple(keys)
        elif not constraint:
            indexes.setdefault(str(table), {})[str(index)] = Index(
                tuple(keys), bool(unique), bool(partial)
            )
    foreign_keys: dict[str, set[tuple[str, str, str, str]]] = {}
    for table, column, target, target_column, on_delete in rows(
        """
        SELECT t.relname, a.attname, r.relname, ra.attname, c.confdeltype
        FROM pg_constraint c
        JOIN pg_class t ON t.oid = c.conrelid
        JOIN pg_namespace s ON s.oid = t.relnamespace
        JOIN pg_class r ON r.oid = c.confrelid
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
        JOIN pg_attribute ra ON ra.attrelid = c.confrelid AND ra.attnum = c.confkey[1]
        WHERE c.contype = 'f' AND s.nspname = %(schema)s
        """
    ):
        foreign_keys.setdefault(str(table), set()).add(
            (str(column), str(target), str(target_column), _ON_DELETE[str(on_delete)])
        )
    triggers: dict[str, set[str]] = {}
    for table, event in rows(
        "SELECT event_object_table, event_manipulation FROM information_schema.triggers "
        "WHERE trigger_schema = %(schema)s"
    ):
        triggers.setdefault(str(table), set()).add(str(event))
    shape: Shape = {}
    for table in tables:
        key = primary_keys.get(table, ())
        shape[table] = Table(
            columns=frozenset(columns[table]),
            not_null=frozenset(c for c, not_null in columns[table].items() if not_null) - set(key),
            primary_key=key,
            indexes=indexes.get(table, {}),
            foreign_keys=frozenset(foreign_keys.get(table, ())),
            trigger_events=frozenset(triggers.get(table, ())),
        )
    return shape


# -- fixtures ----------------------------------------------------------------------------------
@pytest.fixture
def pg_name(postgres_url: str) -> Iterator[str]:
    name = fresh_schema(postgres_url)
    yield name
    drop_schema(postgres_url, name)


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = schema.connect(str(tmp_path / "switchboard.db"))
    yield connection
    connection.close()


@pytest.fixture
def pg_db(postgres_url: str, pg_name: str) -> Iterator[PostgresConnection]:
    connection = pg_schema.connect(postgres_url, pg_name)
    yield connection
    connection.close()


def sqlite_version(connection: sqlite3.Connection) -> int:
    (version,) = connection.execute("PRAGMA user_version").fetchone()
    return int(version)


def postgres_versions(url: str, name: str) -> list[int]:
    """Every row of schema_version, in order: one per migration applied, each exactly once."""
    with connect(url) as raw:
        query = f'SELECT version FROM "{name}".schema_version ORDER BY version'
        return [int(str(version)) for (version,) in raw.execute(query)]


# -- the histories -----------------------------------------------------------------------------
def test_both_histories_have_the_same_number_of_migrations() -> None:
    assert len(pg_schema.MIGRATIONS) == len(schema.MIGRATIONS) == LATEST
    assert LATEST >= 10  # issue 18's own migrations (9: nodes, 10: limits) are in both


def test_the_latest_version_has_the_same_shape_on_both(
    sqlite_db: sqlite3.Connection, pg_db: PostgresConnection, pg_name: str
) -> None:
    schema.migrate(sqlite_db)
    assert pg_schema.migrate(pg_db) == LATEST
    assert sqlite_version(sqlite_db) == pg_schema.current_version(pg_db) == LATEST
    on_sqlite = sqlite_shape(sqlite_db)
    on_postgres = postgres_shape(pg_db.raw, pg_name)

    assert sorted(on_postgres) == sorted(on_sqlite)
    assert {"calls", "meta", "nodes", "outbox", "call_timeline", "recordings"} <= set(on_sqlite)
    for table in on_sqlite:
        sqlite_table, postgres_table = on_sqlite[table], on_postgres[table]
        assert postgres_table.columns == sqlite_table.columns, table
        assert sorted(postgres_table.indexes) == sorted(sqlite_table.indexes), table
        # Beyond the names: the same keys, uniqueness and WHERE-ness, and the same
        # NOT NULLs, primary and foreign keys and provisioning triggers.
        assert postgres_table == sqlite_table, table
    # What the store's queries lean on, lest both sides lose it together.
    assert on_sqlite["calls"].indexes["calls_by_account_time"].columns == (
        "account_id",
        "enqueued_time",
        "call_id",
    )
    assert on_sqlite["accounts"].trigger_events == {"INSERT", "UPDATE", "DELETE"}


def test_every_version_has_the_same_shape_on_both(
    monkeypatch: pytest.MonkeyPatch,
    sqlite_db: sqlite3.Connection,
    pg_db: PostgresConnection,
    pg_name: str,
) -> None:
    """Migrated one version at a time, as a deployment upgraded at each release was: both
    `migrate` functions apply what their module's MIGRATIONS list has beyond the version."""
    sqlite_history, postgres_history = list(schema.MIGRATIONS), list(pg_schema.MIGRATIONS)
    for version in range(1, LATEST + 1):
        monkeypatch.setattr(schema, "MIGRATIONS", sqlite_history[:version])
        monkeypatch.setattr(pg_schema, "MIGRATIONS", postgres_history[:version])
        schema.migrate(sqlite_db)
        assert pg_schema.migrate(pg_db) == 1
        assert sqlite_version(sqlite_db) == pg_schema.current_version(pg_db) == version

        on_sqlite = sqlite_shape(sqlite_db)
        on_postgres = postgres_shape(pg_db.raw, pg_name)
        assert sorted(on_postgres) == sorted(on_sqlite), f"tables at version {version}"
        for table, sqlite_table in on_sqlite.items():
            where = f"{table} at version {version}"
            assert on_postgres[table].columns == sqlite_table.columns, where
            gap = INDEXES_ONLY_ON_SQLITE.get(version, {}).get(table, set())
            assert gap <= set(sqlite_table.indexes), where  # a gap that closed: drop it here
            expected = {n: i for n, i in sqlite_table.indexes.items() if n not in gap}
            assert on_postgres[table].indexes == expected, where
            assert on_postgres[table] == replace(sqlite_table, indexes=expected), where


# -- `switchboard db upgrade` --------------------------------------------------------------------
def cli(*args: str, cwd: Path) -> str:
    environment = {k: v for k, v in os.environ.items() if k != "SWITCHBOARD_DATABASE_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "switchboard.cli", "db", "upgrade", *args],
        capture_output=True,
        text=True,
        timeout=CLI_SECONDS,
        cwd=cwd,
        env=environment,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.slow
def test_db_upgrade_on_sqlite_migrates_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    database = data / "switchboard.db"
    assert cli("--data-dir", str(data), cwd=tmp_path) == (
        f"{database}: schema version 0 -> {LATEST}\n"
    )
    assert cli("--data-dir", str(data), cwd=tmp_path) == (
        f"{database} is at schema version {LATEST}: nothing to do\n"
    )
    with sqlite3.connect(database) as connection:
        assert sqlite_version(connection) == LATEST


@pytest.mark.slow
def test_db_upgrade_on_postgres_migrates_once(
    tmp_path: Path, postgres_url: str, pg_name: str
) -> None:
    config = tmp_path / "switchboard.toml"
    config.write_text(f'[store]\nurl = "{postgres_url}"\nschema = "{pg_name}"\n')
    shown = redact_database_url(postgres_url)  # never the password
    assert cli("--config", str(config), cwd=tmp_path) == (
        f"{shown}: schema version 0 -> {LATEST}\n"
    )
    assert cli("--config", str(config), cwd=tmp_path) == (
        f"{shown} is at schema version {LATEST}: nothing to do\n"
    )
    assert postgres_versions(postgres_url, pg_name) == list(range(1, LATEST + 1))
    assert not (tmp_path / "data").exists()  # PostgreSQL's upgrade needs no data directory


# -- several at once -------------------------------------------------------------------------
MIGRATORS = 3
# A race shows in some rounds, not all: this many rounds make a missed race all but
# impossible (each round is ~0.3 s; a failing one ends the test at once).
ROUNDS = 12


def at_once(migrate: Callable[[], object]) -> list[object]:
    """Runs `migrate` in MIGRATORS threads released together; each one's result or error."""
    start = threading.Barrier(MIGRATORS, timeout=30)
    outcomes: list[object] = [None] * MIGRATORS

    def run(index: int) -> None:
        try:
            start.wait()
            outcomes[index] = migrate()
        except Exception as error:  # reported by the test, not lost in the thread
            # Without its frames, which would keep what they hold (a connection) alive.
            outcomes[index] = error.with_traceback(None)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(MIGRATORS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive(), "a migrator hung"
    return outcomes


def server_start_migration(url: str, name: str) -> Callable[[], object]:
    """What `switchboard serve` does with the store at start (PostgresStore.open)."""

    def migrate() -> int:
        connection = pg_schema.connect(url, name)
        try:
            return pg_schema.migrate(connection)
        finally:
            connection.close()

    return migrate


def test_nodes_starting_together_migrate_a_schema_once(postgres_url: str, pg_name: str) -> None:
    """Nodes that start at once on a prepared, empty schema: every migration runs exactly
    once (applied counts add up to the history, one schema_version row each), none fails."""
    outcomes = at_once(server_start_migration(postgres_url, pg_name))
    assert not [o for o in outcomes if isinstance(o, Exception)]
    assert sum(o for o in outcomes if isinstance(o, int)) == LATEST
    assert postgres_versions(postgres_url, pg_name) == list(range(1, LATEST + 1))


@pytest.mark.slow
def test_nodes_starting_together_create_their_schema_once(postgres_url: str) -> None:
    """A new deployment: `[store] schema` names a schema nobody has created yet."""
    for _ in range(ROUNDS):
        name = f"t_{secrets.token_hex(6)}"  # fresh_schema's kind of name, not yet made
        try:
            outcomes = at_once(server_start_migration(postgres_url, name))
            assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
            assert postgres_versions(postgres_url, name) == list(range(1, LATEST + 1))
        finally:
            drop_schema(postgres_url, name)


@pytest.mark.slow
def test_db_upgrades_run_together_migrate_once(postgres_url: str) -> None:
    """`switchboard db upgrade` run from several places at once (deploy jobs, one per node):
    each ends at the latest version, and each migration ran once."""
    for _ in range(ROUNDS):
        name = fresh_schema(postgres_url)
        try:
            settings = Settings(store_url=postgres_url, store_schema=name)
            outcomes = at_once(functools.partial(factory.upgrade, settings))
            assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
            # Each saw some version before (0 or one another had reached) and the latest after.
            assert all(isinstance(o, tuple) and o[1] == LATEST for o in outcomes), outcomes
            assert postgres_versions(postgres_url, name) == list(range(1, LATEST + 1))
        finally:
            drop_schema(postgres_url, name)
