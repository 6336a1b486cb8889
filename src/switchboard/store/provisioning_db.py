"""Synchronous provisioning reads and writes on a blocking connection of either database (used
by the CLI, the config file sync at start-up, and by the stores to load their snapshot)."""

from __future__ import annotations

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
from switchboard.store.sql import SqlConnection


def load_snapshot(connection: SqlConnection) -> Snapshot:
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


def generation(connection: SqlConnection) -> int:
    row = connection.execute(
        "SELECT value FROM meta WHERE key = 'provisioning_generation'"
    ).fetchone()
    return int(row[0])


def put_account(connection: SqlConnection, account: Account) -> None:
    # Only a real change is written: every write bumps the provisioning generation.
    connection.execute(
        "INSERT INTO accounts (id, name, calls_per_second, concurrent_calls, queue_enabled) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
        "calls_per_second = excluded.calls_per_second, "
        "concurrent_calls = excluded.concurrent_calls, queue_enabled = excluded.queue_enabled "
        "WHERE accounts.name != excluded.name "
        "OR accounts.calls_per_second IS DISTINCT FROM excluded.calls_per_second "
        "OR accounts.concurrent_calls IS DISTINCT FROM excluded.concurrent_calls "
        "OR accounts.queue_enabled IS DISTINCT FROM excluded.queue_enabled",
        (
            account.id,
            account.name,
            account.calls_per_second,
            account.concurrent_calls,
            None if account.queue_enabled is None else int(account.queue_enabled),
        ),
    )


def put_user(connection: SqlConnection, user: ApiUser) -> None:
    connection.execute(
        "INSERT INTO api_users (username, account_id, password_hash) VALUES (?, ?, ?) "
        "ON CONFLICT (username) DO UPDATE SET account_id = excluded.account_id, "
        "password_hash = excluded.password_hash",
        (user.username, user.account_id, user.password_hash),
    )


def put_oauth_client(connection: SqlConnection, client: OAuthClient) -> None:
    connection.execute(
        "INSERT INTO oauth_clients (client_id, account_id, secret_hash) VALUES (?, ?, ?) "
        "ON CONFLICT (client_id) DO UPDATE SET account_id = excluded.account_id, "
        "secret_hash = excluded.secret_hash",
        (client.client_id, client.account_id, client.secret_hash),
    )


def put_application(connection: SqlConnection, application: Application) -> None:
    """`application.voice` must hold sealed passwords (provisioning/vault.py)."""
    voice = orjson.dumps(application.voice.to_json(), option=orjson.OPT_SORT_KEYS).decode()
    connection.execute(
        "INSERT INTO applications (id, account_id, name, voice) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET account_id = excluded.account_id, name = excluded.name, "
        "voice = excluded.voice "
        # Unchanged rows are not rewritten: a rewrite bumps the provisioning generation and
        # makes every running server reload and re-verify credentials.
        "WHERE applications.account_id != excluded.account_id "
        "OR applications.name != excluded.name "
        "OR applications.voice IS DISTINCT FROM excluded.voice",
        (application.id, application.account_id, application.name, voice),
    )


def put_number(connection: SqlConnection, number: PhoneNumber) -> None:
    connection.execute(
        "INSERT INTO phone_numbers (number, account_id, application_id) VALUES (?, ?, ?) "
        "ON CONFLICT (number) DO UPDATE SET account_id = excluded.account_id, "
        "application_id = excluded.application_id "
        "WHERE phone_numbers.account_id != excluded.account_id "
        "OR phone_numbers.application_id IS DISTINCT FROM excluded.application_id",
        (number.number, number.account_id, number.application_id),
    )


_REMOVALS = {
    "user": "DELETE FROM api_users WHERE username = ?",
    "oauth-client": "DELETE FROM oauth_clients WHERE client_id = ?",
    "application": "DELETE FROM applications WHERE id = ?",
    "number": "DELETE FROM phone_numbers WHERE number = ?",
    "account": "DELETE FROM accounts WHERE id = ?",
}


def remove(connection: SqlConnection, kind: str, key: str) -> bool:
    """Remove one record of `kind` by its key; True if it existed."""
    cursor = connection.execute(_REMOVALS[kind], (key,))
    return cursor.rowcount > 0
