"""SQLite schema and its migrations, applied in order by PRAGMA user_version."""

from __future__ import annotations

import sqlite3

_PROVISIONING_TABLES = ("accounts", "api_users", "oauth_clients", "applications", "phone_numbers")

MIGRATIONS: list[str] = [
    # 1: provisioning, calls, and a generation counter that every provisioning change bumps
    # (via triggers, so the CLI in another process invalidates the server's caches too).
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
    INSERT INTO meta (key, value) VALUES ('provisioning_generation', 0);
    CREATE TABLE accounts (id TEXT PRIMARY KEY, name TEXT NOT NULL);
    CREATE TABLE api_users (
        username TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        password_hash TEXT NOT NULL
    );
    CREATE TABLE oauth_clients (
        client_id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        secret_hash TEXT NOT NULL
    );
    CREATE TABLE applications (
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        name TEXT NOT NULL
    );
    CREATE TABLE phone_numbers (
        number TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE
    );
    CREATE TABLE calls (
        call_id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL,
        state TEXT NOT NULL,
        enqueued_time TEXT NOT NULL,
        start_time TEXT,
        to_number TEXT NOT NULL,
        from_number TEXT NOT NULL,
        disconnect_cause TEXT,
        data TEXT NOT NULL
    );
    CREATE INDEX calls_by_account_time ON calls (account_id, enqueued_time);
    CREATE INDEX calls_by_state ON calls (state) WHERE state != 'disconnected';
    """
    + "".join(
        f"""
    CREATE TRIGGER {table}_{action}_bumps_generation AFTER {action} ON {table}
    BEGIN UPDATE meta SET value = value + 1 WHERE key = 'provisioning_generation'; END;
    """
        for table in _PROVISIONING_TABLES
        for action in ("INSERT", "UPDATE", "DELETE")
    ),
    # 2: each call's timeline: state changes, verbs, webhook exchanges, errors, in order.
    """
    CREATE TABLE call_timeline (
        call_id TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        at TEXT NOT NULL,
        kind TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (call_id, sequence)
    ) WITHOUT ROWID;
    """,
    # 3: per-account limits (NULL: the server's default) and the end of a call, for retention.
    """
    ALTER TABLE accounts ADD COLUMN calls_per_second REAL;
    ALTER TABLE accounts ADD COLUMN concurrent_calls INTEGER;
    ALTER TABLE accounts ADD COLUMN queue_enabled INTEGER;
    ALTER TABLE calls ADD COLUMN end_time TEXT;
    CREATE INDEX calls_by_end_time ON calls (end_time) WHERE end_time IS NOT NULL;
    DROP INDEX calls_by_account_time;
    CREATE INDEX calls_by_account_time ON calls (account_id, enqueued_time, call_id);
    """,
    # 4: the webhook outbox: each event a call owes, stored before it is sent.
    """
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        call_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        data TEXT NOT NULL
    );
    CREATE INDEX outbox_pending ON outbox (id) WHERE status = 'pending';
    """,
    # 5: listCalls filters (issue 4). Each equality filter walks its own index in page order
    # (enqueued_time, call_id), so a filter that matches little no longer reads all of an
    # account's calls. A start-time window walks enqueued times from minStartTime less the
    # account's longest wait in the queue (start - enqueued, in whole seconds: most calls share
    # a value, so a save appends to its group rather than writing a random page).
    """
    CREATE INDEX calls_by_account_to ON calls (account_id, to_number, enqueued_time, call_id);
    CREATE INDEX calls_by_account_from ON calls (account_id, from_number, enqueued_time, call_id);
    CREATE INDEX calls_by_account_cause
        ON calls (account_id, disconnect_cause, enqueued_time, call_id);
    CREATE INDEX calls_by_account_wait
        ON calls (
            account_id, CAST((julianday(start_time) - julianday(enqueued_time)) * 86400 AS INTEGER)
        );
    """,
    # 6: cheaper call inserts (issue 2). The wait index indexed an expression of two julianday()
    # parses, evaluated on every insert and save; the wait is now a stored column, and only
    # calls that waited at all are indexed (most never queue: a missing row means 0). A cause
    # exists only once a call has ended, so its index holds ended calls only: `= ?` implies
    # IS NOT NULL, and a new call no longer adds a row to it.
    """
    ALTER TABLE calls ADD COLUMN queue_wait INTEGER;
    UPDATE calls SET queue_wait =
        CAST((julianday(start_time) - julianday(enqueued_time)) * 86400 AS INTEGER);
    DROP INDEX calls_by_account_wait;
    CREATE INDEX calls_by_account_wait ON calls (account_id, queue_wait) WHERE queue_wait > 0;
    DROP INDEX calls_by_account_cause;
    CREATE INDEX calls_by_account_cause
        ON calls (account_id, disconnect_cause, enqueued_time, call_id)
        WHERE disconnect_cause IS NOT NULL;
    """,
    # 7: inbound calls (issue 11). An application's voice settings (JSON, passwords sealed)
    # and the application each number rings.
    """
    ALTER TABLE applications ADD COLUMN voice TEXT;
    ALTER TABLE phone_numbers ADD COLUMN application_id TEXT
        REFERENCES applications(id) ON DELETE SET NULL;
    """,
    # 8: recordings (issue 13): the metadata of each; the media live in MediaStorage. Listed
    # by account in start order, or by call; purged by the end of their retention, which
    # counts from the end (a recording that never ended, e.g. marked error after a crash,
    # from its start).
    """
    CREATE TABLE recordings (
        recording_id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL,
        call_id TEXT NOT NULL,
        start_time TEXT NOT NULL,
        end_time TEXT,
        status TEXT NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX recordings_by_account_start ON recordings (account_id, start_time, recording_id);
    CREATE INDEX recordings_by_call ON recordings (call_id, start_time);
    CREATE INDEX recordings_by_status ON recordings (status) WHERE status = 'processing';
    CREATE INDEX recordings_by_retention ON recordings (coalesce(end_time, start_time));
    """,
    # 9: many nodes (issue 18). Each node's lease, and each call's owner and the owner's epoch
    # when it took the call (fencing: a write that matters names both). One SQLite node never
    # fills them; the shape is the same as PostgreSQL's, where they matter.
    """
    CREATE TABLE nodes (
        node_id TEXT PRIMARY KEY,
        epoch INTEGER NOT NULL,
        address TEXT NOT NULL,
        state TEXT NOT NULL,
        lease_until TEXT NOT NULL
    );
    ALTER TABLE calls ADD COLUMN owner_node TEXT;
    ALTER TABLE calls ADD COLUMN owner_epoch INTEGER;
    CREATE INDEX calls_by_owner ON calls (owner_node) WHERE state != 'disconnected';
    """,
    # 10: limits across nodes (issue 18): each account's live calls found by account, and its
    # calls-per-second token bucket; fingerprints of the keys every node must share.
    """
    CREATE INDEX calls_live_by_account ON calls (account_id) WHERE state != 'disconnected';
    CREATE TABLE account_rates (
        account_id TEXT PRIMARY KEY,
        tokens REAL NOT NULL,
        updated TEXT NOT NULL
    );
    CREATE TABLE shared_keys (name TEXT PRIMARY KEY, fingerprint TEXT NOT NULL);
    """,
]


def connect(path: str) -> sqlite3.Connection:
    """Open a connection with the settings every connection needs."""
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    connection.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode survives a crash of Switchboard (kill -9); FULL also survives power loss.
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute("PRAGMA busy_timeout=30000")
    return connection


def migrate(connection: sqlite3.Connection) -> None:
    (version,) = connection.execute("PRAGMA user_version").fetchone()
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        connection.execute("BEGIN IMMEDIATE")
        try:
            # executescript would COMMIT on its own; run statement by statement inside our txn.
            for statement in _statements(script):
                connection.execute(statement)
            connection.execute(f"PRAGMA user_version={number}")
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise


def _statements(script: str) -> list[str]:
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
