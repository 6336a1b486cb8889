"""PostgreSQL schema: the same history as SQLite's (store/schema.py), migration for migration.

Migration N here makes the tables, columns and indexes that SQLite's migration N makes, in
PostgreSQL's dialect, so a database of either kind at version N has the same shape
(tests/integration/store/test_schema_history.py compares them). Differences of dialect only:

- Times stay ISO 8601 text, as on SQLite: the same keyset comparisons and page tokens work on
  both, and `COLLATE "C"` makes text order byte order (SQLite's) whatever the cluster's locale.
- The provisioning generation is bumped by row triggers (as SQLite's: a write that changes
  nothing bumps nothing) that also NOTIFY, so every node
  (and its cached credentials) learns of a change made anywhere at once.
- The version is a row of `schema_version`; each migration runs in a transaction holding an
  advisory lock, so nodes that start together migrate once.
"""

from __future__ import annotations

from typing import Any

import psycopg

from switchboard.store.sql import PostgresConnection

PROVISIONING_CHANNEL = "switchboard_provisioning"
_PROVISIONING_TABLES = ("accounts", "api_users", "oauth_clients", "applications", "phone_numbers")
_MIGRATION_LOCK = 0x5357_4244  # "SWBD": one number every Switchboard node agrees on
_C = 'COLLATE "C"'

MIGRATIONS: list[str] = [
    # 1: provisioning, calls, and the provisioning generation (see the module docstring).
    f"""
    CREATE TABLE meta (key TEXT {_C} PRIMARY KEY, value BIGINT NOT NULL);
    INSERT INTO meta (key, value) VALUES ('provisioning_generation', 0);
    CREATE TABLE accounts (id TEXT {_C} PRIMARY KEY, name TEXT NOT NULL);
    CREATE TABLE api_users (
        username TEXT {_C} PRIMARY KEY,
        account_id TEXT {_C} NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        password_hash TEXT NOT NULL
    );
    CREATE TABLE oauth_clients (
        client_id TEXT {_C} PRIMARY KEY,
        account_id TEXT {_C} NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        secret_hash TEXT NOT NULL
    );
    CREATE TABLE applications (
        id TEXT {_C} PRIMARY KEY,
        account_id TEXT {_C} NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        name TEXT NOT NULL
    );
    CREATE TABLE phone_numbers (
        number TEXT {_C} PRIMARY KEY,
        account_id TEXT {_C} NOT NULL REFERENCES accounts(id) ON DELETE CASCADE
    );
    CREATE TABLE calls (
        call_id TEXT {_C} PRIMARY KEY,
        account_id TEXT {_C} NOT NULL,
        state TEXT {_C} NOT NULL,
        enqueued_time TEXT {_C} NOT NULL,
        start_time TEXT {_C},
        to_number TEXT {_C} NOT NULL,
        from_number TEXT {_C} NOT NULL,
        disconnect_cause TEXT {_C},
        data TEXT NOT NULL
    );
    CREATE INDEX calls_by_account_time ON calls (account_id, enqueued_time);
    CREATE INDEX calls_by_state ON calls (state) WHERE state != 'disconnected';
    CREATE FUNCTION bump_provisioning_generation() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE meta SET value = value + 1 WHERE key = 'provisioning_generation';
        PERFORM pg_notify('{PROVISIONING_CHANNEL}', '');
        RETURN NULL;
    END $$;
    """
    + "".join(
        f"""
    CREATE TRIGGER {table}_bumps_generation AFTER INSERT OR UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION bump_provisioning_generation();
    """
        for table in _PROVISIONING_TABLES
    ),
    # 2: each call's timeline.
    f"""
    CREATE TABLE call_timeline (
        call_id TEXT {_C} NOT NULL,
        sequence BIGINT NOT NULL,
        at TEXT {_C} NOT NULL,
        kind TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (call_id, sequence)
    );
    """,
    # 3: per-account limits and the end of a call, for retention.
    f"""
    ALTER TABLE accounts ADD COLUMN calls_per_second DOUBLE PRECISION;
    ALTER TABLE accounts ADD COLUMN concurrent_calls INTEGER;
    ALTER TABLE accounts ADD COLUMN queue_enabled INTEGER;
    ALTER TABLE calls ADD COLUMN end_time TEXT {_C};
    CREATE INDEX calls_by_end_time ON calls (end_time) WHERE end_time IS NOT NULL;
    DROP INDEX calls_by_account_time;
    CREATE INDEX calls_by_account_time ON calls (account_id, enqueued_time, call_id);
    """,
    # 4: the webhook outbox.
    """
    CREATE TABLE outbox (
        id BIGSERIAL PRIMARY KEY,
        call_id TEXT COLLATE "C" NOT NULL,
        event_type TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        data TEXT NOT NULL
    );
    CREATE INDEX outbox_pending ON outbox (id) WHERE status = 'pending';
    """,
    # 5: listCalls filters (SQLite's wait index is an expression it drops in 6: here the
    # stored column of 6 is the whole story, so 5 makes only the filter indexes).
    """
    CREATE INDEX calls_by_account_to ON calls (account_id, to_number, enqueued_time, call_id);
    CREATE INDEX calls_by_account_from ON calls (account_id, from_number, enqueued_time, call_id);
    """,
    # 6: the stored queue wait and the ended-calls-only cause index.
    """
    ALTER TABLE calls ADD COLUMN queue_wait INTEGER;
    CREATE INDEX calls_by_account_wait ON calls (account_id, queue_wait) WHERE queue_wait > 0;
    CREATE INDEX calls_by_account_cause
        ON calls (account_id, disconnect_cause, enqueued_time, call_id)
        WHERE disconnect_cause IS NOT NULL;
    """,
    # 7: inbound calls: applications' voice settings and numbers' applications.
    """
    ALTER TABLE applications ADD COLUMN voice TEXT;
    ALTER TABLE phone_numbers ADD COLUMN application_id TEXT COLLATE "C"
        REFERENCES applications(id) ON DELETE SET NULL;
    """,
    # 8: recordings.
    f"""
    CREATE TABLE recordings (
        recording_id TEXT {_C} PRIMARY KEY,
        account_id TEXT {_C} NOT NULL,
        call_id TEXT {_C} NOT NULL,
        start_time TEXT {_C} NOT NULL,
        end_time TEXT {_C},
        status TEXT {_C} NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX recordings_by_account_start ON recordings (account_id, start_time, recording_id);
    CREATE INDEX recordings_by_call ON recordings (call_id, start_time);
    CREATE INDEX recordings_by_status ON recordings (status) WHERE status = 'processing';
    CREATE INDEX recordings_by_retention ON recordings ((coalesce(end_time, start_time)));
    """,
    # 9: many nodes. Leases are times of the database's clock (now()), so nodes whose clocks
    # disagree still agree on who is dead.
    f"""
    CREATE TABLE nodes (
        node_id TEXT {_C} PRIMARY KEY,
        epoch BIGINT NOT NULL,
        address TEXT NOT NULL,
        state TEXT {_C} NOT NULL,
        lease_until TIMESTAMPTZ NOT NULL
    );
    ALTER TABLE calls ADD COLUMN owner_node TEXT {_C};
    ALTER TABLE calls ADD COLUMN owner_epoch BIGINT;
    CREATE INDEX calls_by_owner ON calls (owner_node) WHERE state != 'disconnected';
    """,
    # 10: limits across nodes: live calls by account (counted at admission), each account's
    # calls-per-second token bucket (times of the database's clock), and fingerprints of the
    # keys every node must share (token signing, the vault).
    f"""
    CREATE INDEX calls_live_by_account ON calls (account_id) WHERE state != 'disconnected';
    CREATE TABLE account_rates (
        account_id TEXT {_C} PRIMARY KEY,
        tokens DOUBLE PRECISION NOT NULL,
        updated TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE shared_keys (name TEXT {_C} PRIMARY KEY, fingerprint TEXT NOT NULL);
    """,
]


def connection_options(schema: str | None) -> dict[str, Any]:
    """Keyword arguments for psycopg's connect: autocommit (our SQL says BEGIN when it means
    it) and, for a schema of its own, the search path."""
    options: dict[str, Any] = {"autocommit": True}
    if schema is not None:
        options["options"] = f"-c search_path={schema}"
    return options


def connect(url: str, schema: str | None = None) -> PostgresConnection:
    """A blocking connection to the store's database, its schema created if need be."""
    raw = psycopg.connect(url, **connection_options(schema))
    try:
        if schema is not None:
            # Under the migration lock: nodes starting together on a new schema each run this
            # (IF NOT EXISTS alone races: the loser fails on the catalog's unique index).
            with raw.transaction():
                raw.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                raw.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    except BaseException:
        raw.close()
        raise
    return PostgresConnection(raw)


def current_version(connection: PostgresConnection) -> int:
    """The schema's version, read under the migration lock (0: never migrated)."""
    raw = connection.raw
    with raw.transaction():
        raw.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        return _version_locked(connection)


def _version_locked(connection: PostgresConnection) -> int:
    connection.raw.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = connection.raw.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def migrate(connection: PostgresConnection) -> int:
    """Bring the database to the latest version; returns the number of migrations applied."""
    raw = connection.raw
    applied = 0
    while True:
        with raw.transaction():
            raw.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            version = _version_locked(connection)  # under the lock
            if version >= len(MIGRATIONS):
                return applied
            raw.execute(MIGRATIONS[version])
            raw.execute("INSERT INTO schema_version (version) VALUES (%s)", (version + 1,))
            applied += 1
