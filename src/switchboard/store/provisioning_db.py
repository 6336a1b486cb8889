"""Synchronous provisioning reads and writes on a SQLite connection (used by the CLI, the config
file sync at start-up, and by SqliteStore to load its snapshot)."""

from __future__ import annotations

import sqlite3

import orjson

from switchboard.provisioning.models import (
    Account,
    ApiUser,
    Application,
    OAuthClient,
    PhoneNumber,
    Snapshot,
)
from switchboard.provisioning.voice_settings import VoiceSettings


def load_snapshot(connection: sqlite3.Connection) -> Snapshot:
    snapshot = Snapshot()
    for account_id, name, cps, concurrent, queue in connection.execute(
        "SELECT id, name, calls_per_second, concurrent_calls, queue_enabled FROM accounts"
    ):
        snapshot.accounts[account_id] = Account(
            account_id, name, cps, concurrent, None if queue is None else bool(queue)
        )
    for username, account_id, password_hash in connection.execute(
        "SELECT username, account_id, password_hash FROM api_users"
    ):
        snapshot.users[username] = ApiUser(username, account_id, password_hash)
    for client_id, account_id, secret_hash in connection.execute(
        "SELECT client_id, account_id, secret_hash FROM oauth_clients"
    ):
        snapshot.oauth_clients[client_id] = OAuthClient(client_id, account_id, secret_hash)
    for application_id, account_id, name, voice in connection.execute(
        "SELECT id, account_id, name, voice FROM applications"
    ):
        settings = VoiceSettings.from_json(orjson.loads(voice) if voice else None)
        snapshot.applications[application_id] = Application(
            application_id, account_id, name, settings
        )
    for number, account_id, application_id in connection.execute(
        "SELECT number, account_id, application_id FROM phone_numbers"
    ):
        snapshot.numbers[number] = PhoneNumber(number, account_id, application_id)
    return snapshot


def generation(connection: sqlite3.Connection) -> int:
    row = connection.execute(
        "SELECT value FROM meta WHERE key = 'provisioning_generation'"
    ).fetchone()
    return int(row[0])


def put_account(connection: sqlite3.Connection, account: Account) -> None:
    # Only a real change is written: every write bumps the provisioning generation.
    connection.execute(
        "INSERT INTO accounts (id, name, calls_per_second, concurrent_calls, queue_enabled) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
        "calls_per_second = excluded.calls_per_second, "
        "concurrent_calls = excluded.concurrent_calls, queue_enabled = excluded.queue_enabled "
        "WHERE name != excluded.name "
        "OR calls_per_second IS NOT excluded.calls_per_second "
        "OR concurrent_calls IS NOT excluded.concurrent_calls "
        "OR queue_enabled IS NOT excluded.queue_enabled",
        (
            account.id,
            account.name,
            account.calls_per_second,
            account.concurrent_calls,
            None if account.queue_enabled is None else int(account.queue_enabled),
        ),
    )


def put_user(connection: sqlite3.Connection, user: ApiUser) -> None:
    connection.execute(
        "INSERT INTO api_users (username, account_id, password_hash) VALUES (?, ?, ?) "
        "ON CONFLICT (username) DO UPDATE SET account_id = excluded.account_id, "
        "password_hash = excluded.password_hash",
        (user.username, user.account_id, user.password_hash),
    )


def put_oauth_client(connection: sqlite3.Connection, client: OAuthClient) -> None:
    connection.execute(
        "INSERT INTO oauth_clients (client_id, account_id, secret_hash) VALUES (?, ?, ?) "
        "ON CONFLICT (client_id) DO UPDATE SET account_id = excluded.account_id, "
        "secret_hash = excluded.secret_hash",
        (client.client_id, client.account_id, client.secret_hash),
    )


def put_application(connection: sqlite3.Connection, application: Application) -> None:
    """`application.voice` must hold sealed passwords (provisioning/vault.py)."""
    voice = orjson.dumps(application.voice.to_json(), option=orjson.OPT_SORT_KEYS).decode()
    connection.execute(
        "INSERT INTO applications (id, account_id, name, voice) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET account_id = excluded.account_id, name = excluded.name, "
        "voice = excluded.voice "
        # Unchanged rows are not rewritten: a rewrite bumps the provisioning generation and
        # makes every running server reload and re-verify credentials.
        "WHERE account_id != excluded.account_id OR name != excluded.name "
        "OR voice IS NOT excluded.voice",
        (application.id, application.account_id, application.name, voice),
    )


def put_number(connection: sqlite3.Connection, number: PhoneNumber) -> None:
    connection.execute(
        "INSERT INTO phone_numbers (number, account_id, application_id) VALUES (?, ?, ?) "
        "ON CONFLICT (number) DO UPDATE SET account_id = excluded.account_id, "
        "application_id = excluded.application_id "
        "WHERE account_id != excluded.account_id "
        "OR application_id IS NOT excluded.application_id",
        (number.number, number.account_id, number.application_id),
    )


_REMOVALS = {
    "user": "DELETE FROM api_users WHERE username = ?",
    "oauth-client": "DELETE FROM oauth_clients WHERE client_id = ?",
    "application": "DELETE FROM applications WHERE id = ?",
    "number": "DELETE FROM phone_numbers WHERE number = ?",
    "account": "DELETE FROM accounts WHERE id = ?",
}


def remove(connection: sqlite3.Connection, kind: str, key: str) -> bool:
    """Remove one record of `kind` by its key; True if it existed."""
    cursor = connection.execute(_REMOVALS[kind], (key,))
    return cursor.rowcount > 0
