"""Bring the store's provisioning in line with the config file, or create the demo account.

The config file is declarative: for every account it lists, the store ends up holding exactly
the users, OAuth clients, applications and numbers the file lists (others are removed).
Accounts the file does not mention (e.g. made with the CLI) are left alone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from switchboard.config import AccountConfig
from switchboard.provisioning.models import (
    Account,
    ApiUser,
    Application,
    OAuthClient,
    PhoneNumber,
    new_account_id,
    new_password,
)
from switchboard.provisioning.secrets import hash_secret, looks_hashed, verify_secret
from switchboard.provisioning.vault import Vault, VaultError, is_sealed
from switchboard.provisioning.voice_settings import VoiceSettings
from switchboard.store import provisioning_db
from switchboard.store.sql import SqlConnection

DEMO_ACCOUNT_NAME = "Demo account"
DEMO_USERNAME = "demo"
DEMO_NUMBERS = ("+15555550100", "+15555550199")


@dataclass(frozen=True, slots=True)
class DemoAccount:
    account_id: str
    username: str
    password: str | None  # only known (and printed) the first time
    application_id: str
    numbers: tuple[str, ...]


def apply_accounts(
    connection: SqlConnection, accounts: tuple[AccountConfig, ...], vault: Vault
) -> None:
    connection.execute("BEGIN IMMEDIATE")
    try:
        snapshot = provisioning_db.load_snapshot(connection)
        for account in accounts:
            limits = account.limits
            provisioning_db.put_account(
                connection,
                Account(
                    account.id,
                    account.name,
                    limits.calls_per_second,
                    limits.concurrent_calls,
                    limits.queue_enabled,
                ),
            )
            _sync_users(connection, account, snapshot.users)
            _sync_clients(connection, account, snapshot.oauth_clients)
            wanted_apps = {app.id for app in account.applications}
            for app in account.applications:
                current = snapshot.applications.get(app.id)
                provisioning_db.put_application(
                    connection,
                    Application(
                        app.id,
                        account.id,
                        app.name,
                        stored_voice_settings(app.voice, current.voice if current else None, vault),
                    ),
                )
            for app_id, existing in snapshot.applications.items():
                if existing.account_id == account.id and app_id not in wanted_apps:
                    provisioning_db.remove(connection, "application", app_id)
            ringing = {number: app.id for app in account.applications for number in app.numbers}
            for number in account.numbers:
                provisioning_db.put_number(
                    connection, PhoneNumber(number, account.id, ringing.get(number))
                )
            for number, owner in snapshot.numbers.items():
                if owner.account_id == account.id and number not in account.numbers:
                    provisioning_db.remove(connection, "number", number)
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def _sync_users(
    connection: SqlConnection, account: AccountConfig, existing: dict[str, ApiUser]
) -> None:
    wanted = {user.username for user in account.users}
    for user in account.users:
        current = existing.get(user.username)
        # Re-hash only when the secret changed: hashing is deliberately slow.
        if (
            current
            and current.account_id == account.id
            and _same(user.password, current.password_hash)
        ):
            continue
        provisioning_db.put_user(
            connection, ApiUser(user.username, account.id, _hashed(user.password))
        )
    for username, current in existing.items():
        if current.account_id == account.id and username not in wanted:
            provisioning_db.remove(connection, "user", username)


def _sync_clients(
    connection: SqlConnection, account: AccountConfig, existing: dict[str, OAuthClient]
) -> None:
    wanted = {client.client_id for client in account.oauth_clients}
    for client in account.oauth_clients:
        current = existing.get(client.client_id)
        if (
            current
            and current.account_id == account.id
            and _same(client.client_secret, current.secret_hash)
        ):
            continue
        provisioning_db.put_oauth_client(
            connection, OAuthClient(client.client_id, account.id, _hashed(client.client_secret))
        )
    for client_id, current in existing.items():
        if current.account_id == account.id and client_id not in wanted:
            provisioning_db.remove(connection, "oauth-client", client_id)


def stored_voice_settings(
    wanted: VoiceSettings, current: VoiceSettings | None, vault: Vault
) -> VoiceSettings:
    """`wanted` (plain passwords) as it is stored: passwords sealed. A password that did not
    change keeps its sealed value, so an unchanged file rewrites nothing at start."""

    def seal(password: str, stored: str | None) -> str:
        if is_sealed(password):
            return password
        if stored is not None:
            try:
                if vault.open(stored) == password:
                    return stored
            except VaultError:
                pass
        return vault.seal(password)

    return replace(
        wanted,
        callback_password=None
        if wanted.callback_password is None
        else seal(wanted.callback_password, current.callback_password if current else None),
        fallback_password=None
        if wanted.fallback_password is None
        else seal(wanted.fallback_password, current.fallback_password if current else None),
    )


def _hashed(secret: str) -> str:
    return secret if looks_hashed(secret) else hash_secret(secret)


def _same(secret: str, stored_hash: str) -> bool:
    return secret == stored_hash if looks_hashed(secret) else verify_secret(secret, stored_hash)


def ensure_demo_account(connection: SqlConnection) -> DemoAccount | None:
    """On a store with no accounts at all, create the demo account and return it with its
    password. On later starts return it without the password. None if other accounts exist."""
    snapshot = provisioning_db.load_snapshot(connection)
    demo = next((a for a in snapshot.accounts.values() if a.name == DEMO_ACCOUNT_NAME), None)
    if demo is not None:
        apps = [a.id for a in snapshot.applications.values() if a.account_id == demo.id]
        users = [u.username for u in snapshot.users.values() if u.account_id == demo.id]
        numbers = tuple(sorted(n for n, o in snapshot.numbers.items() if o.account_id == demo.id))
        return DemoAccount(
            demo.id, users[0] if users else "", None, apps[0] if apps else "", numbers
        )
    if snapshot.accounts:
        return None
    password = new_password()
    account = Account(new_account_id(), DEMO_ACCOUNT_NAME)
    application = Application(str(uuid.uuid4()), account.id, "Demo application")
    connection.execute("BEGIN IMMEDIATE")
    try:
        provisioning_db.put_account(connection, account)
        provisioning_db.put_user(
            connection, ApiUser(DEMO_USERNAME, account.id, hash_secret(password))
        )
        provisioning_db.put_application(connection, application)
        for number in DEMO_NUMBERS:
            # Both ring the demo application: give it a call_initiated_callback_url and they
            # take inbound calls.
            provisioning_db.put_number(connection, PhoneNumber(number, account.id, application.id))
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return DemoAccount(account.id, DEMO_USERNAME, password, application.id, DEMO_NUMBERS)
