"""Which store the settings ask for: the SQLite file (the embedded default) or PostgreSQL."""

from __future__ import annotations

from switchboard.config import Settings
from switchboard.store import pg_schema, schema
from switchboard.store.postgres import PostgresStore
from switchboard.store.sql import SqlConnection
from switchboard.store.sqlite import SqliteStore


def make_store(settings: Settings) -> SqliteStore | PostgresStore:
    if settings.store_url is not None:
        return PostgresStore(settings.store_url, schema=settings.store_schema)
    return SqliteStore(settings.database_path, settings.call_bounds.wal_max_bytes)


def blocking_connection(settings: Settings) -> SqlConnection:
    """A migrated blocking connection (the CLI, the config file's sync at start-up). On
    SQLite, the data directory is created first."""
    if settings.store_url is not None:
        postgres = pg_schema.connect(settings.store_url, settings.store_schema)
        try:
            pg_schema.migrate(postgres)
        except BaseException:
            postgres.close()
            raise
        return postgres
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    connection = schema.connect(str(settings.database_path))
    try:
        schema.migrate(connection)
    except BaseException:
        connection.close()
        raise
    return connection


def upgrade(settings: Settings) -> tuple[int, int]:
    """`switchboard db upgrade`: migrate the database; returns (version before, version now)."""
    if settings.store_url is not None:
        postgres = pg_schema.connect(settings.store_url, settings.store_schema)
        try:
            before = pg_schema.current_version(postgres)
            pg_schema.migrate(postgres)
            return before, pg_schema.current_version(postgres)
        finally:
            postgres.close()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    connection = schema.connect(str(settings.database_path))
    try:
        (before,) = connection.execute("PRAGMA user_version").fetchone()
        schema.migrate(connection)
        (after,) = connection.execute("PRAGMA user_version").fetchone()
        return int(before), int(after)
    finally:
        connection.close()
