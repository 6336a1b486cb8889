"""Start-up provisioning: the declarative config file sync, and the demo account."""

from __future__ import annotations

import json
import re
import shlex
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from switchboard.calls.create_request import parse_create_call
from switchboard.config import (
    AccountConfig,
    ApplicationConfig,
    OAuthClientConfig,
    Settings,
    UserConfig,
    load_settings,
)
from switchboard.provisioning.models import ACCOUNT_ID, Account, ApiUser, Snapshot
from switchboard.provisioning.secrets import hash_secret, verify_secret
from switchboard.provisioning.setup import (
    DEMO_NUMBERS,
    ensure_demo_account,
)
from switchboard.provisioning.setup import apply_accounts as apply_with_vault
from switchboard.provisioning.vault import Vault, is_sealed
from switchboard.provisioning.voice_settings import VoiceSettings
from switchboard.server import demo_banner, prepare_data_dir
from switchboard.store import provisioning_db, schema

APP_1 = "11111111-1111-4111-8111-111111111111"
APP_2 = "22222222-2222-4222-8222-222222222222"


VAULT = Vault(bytes(range(32)))


def apply_accounts(connection: sqlite3.Connection, accounts: tuple[AccountConfig, ...]) -> None:
    apply_with_vault(connection, accounts, VAULT)


@pytest.fixture
def connection(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = schema.connect(str(tmp_path / "switchboard.db"))
    schema.migrate(connection)
    yield connection
    connection.close()


def account(**changes: object) -> AccountConfig:
    values: dict[str, object] = {
        "id": "1234567",
        "name": "Acme",
        "users": (UserConfig("ann", "ann-password"),),
        "oauth_clients": (OAuthClientConfig("acme-client", "acme-secret"),),
        "applications": (ApplicationConfig(APP_1, "IVR"), ApplicationConfig(APP_2, "Sales")),
        "numbers": ("+15555550001", "+15555550002"),
    }
    values.update(changes)
    return AccountConfig(**values)  # type: ignore[arg-type]


def snapshot(connection: sqlite3.Connection) -> Snapshot:
    return provisioning_db.load_snapshot(connection)


# -- the config file, applied declaratively ------------------------------------------------------


def test_apply_stores_everything_with_secrets_hashed(connection: sqlite3.Connection) -> None:
    apply_accounts(connection, (account(),))
    stored = snapshot(connection)
    assert stored.accounts == {"1234567": Account("1234567", "Acme")}
    user = stored.users["ann"]
    assert user.account_id == "1234567"
    assert user.password_hash != "ann-password" and verify_secret(
        "ann-password", user.password_hash
    )
    client = stored.oauth_clients["acme-client"]
    assert verify_secret("acme-secret", client.secret_hash)
    assert {a.id: a.name for a in stored.applications.values()} == {APP_1: "IVR", APP_2: "Sales"}
    assert set(stored.numbers) == {"+15555550001", "+15555550002"}
    raw = connection.execute("SELECT password_hash FROM api_users").fetchall()
    assert all("ann-password" not in value for (value,) in raw)


def test_apply_removes_what_the_file_no_longer_lists(connection: sqlite3.Connection) -> None:
    apply_accounts(connection, (account(),))
    apply_accounts(
        connection,
        (
            account(
                users=(UserConfig("bea", "bea-password"),),
                oauth_clients=(),
                applications=(ApplicationConfig(APP_2, "Sales"),),
                numbers=("+15555550002",),
            ),
        ),
    )
    stored = snapshot(connection)
    assert set(stored.users) == {"bea"}
    assert stored.oauth_clients == {}
    assert set(stored.applications) == {APP_2}
    assert set(stored.numbers) == {"+15555550002"}


def test_apply_leaves_accounts_the_file_does_not_mention(connection: sqlite3.Connection) -> None:
    # e.g. made with the CLI
    provisioning_db.put_account(connection, Account("7654321", "Made by CLI"))
    provisioning_db.put_user(connection, ApiUser("cli-user", "7654321", hash_secret("x")))
    apply_accounts(connection, (account(),))
    stored = snapshot(connection)
    assert stored.accounts["7654321"].name == "Made by CLI"
    assert stored.users["cli-user"].account_id == "7654321"


def test_apply_unchanged_keeps_the_hashes(connection: sqlite3.Connection) -> None:
    apply_accounts(connection, (account(),))
    before = snapshot(connection)
    generation = provisioning_db.generation(connection)
    apply_accounts(connection, (account(),))
    after = snapshot(connection)
    assert after.users["ann"].password_hash == before.users["ann"].password_hash
    assert after.oauth_clients == before.oauth_clients
    # Nothing changed, so servers have nothing to reload.
    assert provisioning_db.generation(connection) == generation


def test_apply_changed_password_takes_the_new_one(connection: sqlite3.Connection) -> None:
    apply_accounts(connection, (account(),))
    apply_accounts(connection, (account(users=(UserConfig("ann", "new-password"),)),))
    stored_hash = snapshot(connection).users["ann"].password_hash
    assert verify_secret("new-password", stored_hash)
    assert not verify_secret("ann-password", stored_hash)


def test_apply_accepts_an_already_hashed_password(connection: sqlite3.Connection) -> None:
    hashed = hash_secret("from-a-vault")
    apply_accounts(connection, (account(users=(UserConfig("ann", hashed),)),))
    assert snapshot(connection).users["ann"].password_hash == hashed


# -- the demo account --------------------------------------------------------------------------


def test_demo_account_is_created_once_with_its_password(connection: sqlite3.Connection) -> None:
    demo = ensure_demo_account(connection)
    assert demo is not None and demo.password is not None
    assert ACCOUNT_ID.match(demo.account_id)
    assert demo.username == "demo"
    uuid.UUID(demo.application_id)
    assert demo.numbers == DEMO_NUMBERS and len(demo.numbers) == 2
    stored = snapshot(connection)
    assert verify_secret(demo.password, stored.users["demo"].password_hash)
    assert stored.account_application(demo.account_id, demo.application_id) is not None
    assert all(stored.account_owns_number(demo.account_id, n) for n in demo.numbers)

    again = ensure_demo_account(connection)
    assert again is not None
    assert again.password is None  # not printed again
    assert (again.account_id, again.username, again.application_id, again.numbers) == (
        demo.account_id,
        demo.username,
        demo.application_id,
        demo.numbers,
    )
    assert len(snapshot(connection).accounts) == 1


def test_no_demo_account_beside_real_ones(connection: sqlite3.Connection) -> None:
    apply_accounts(connection, (account(),))
    assert ensure_demo_account(connection) is None
    assert set(snapshot(connection).accounts) == {"1234567"}


def settings_for(tmp_path: Path, config: str | None = None) -> Settings:
    if config is None:
        return load_settings(data_dir=tmp_path / "data")
    config_file = tmp_path / "switchboard.toml"
    config_file.write_text(config)
    return load_settings(config_file)


def test_prepare_data_dir_twice_shows_the_password_only_first(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    first = prepare_data_dir(settings)
    assert first is not None and first.password
    assert (tmp_path / "data" / "switchboard.db").exists()
    second = prepare_data_dir(settings)
    assert second is not None and second.password is None
    assert second.account_id == first.account_id


def test_prepare_data_dir_with_accounts_makes_no_demo(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path,
        f"""
        [[accounts]]
        id = "1234567"
        numbers = ["+15555550001"]
        [[accounts.applications]]
        id = "{APP_1}"
        """,
    )
    assert prepare_data_dir(settings) is None
    connection = schema.connect(str(settings.database_path))
    try:
        stored = snapshot(connection)
    finally:
        connection.close()
    assert set(stored.accounts) == {"1234567"}
    assert stored.accounts["1234567"].name == "Account 1234567"


def test_demo_banner_has_everything_and_a_working_curl_command(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    demo = prepare_data_dir(settings)
    assert demo is not None and demo.password is not None
    banner = demo_banner(demo, settings)
    for value in (demo.account_id, demo.username, demo.password, demo.application_id):
        assert value in banner
    assert all(number in banner for number in demo.numbers)
    assert "shown only this once" in banner

    command = re.search(r"^  curl .*?'\n\n", banner, re.MULTILINE | re.DOTALL)
    assert command is not None
    words = shlex.split(command.group(0).replace("\\\n", " "))
    assert words[:3] == ["curl", "-X", "POST"]
    assert words[3] == f"http://127.0.0.1:8080/api/v2/accounts/{demo.account_id}/calls"
    assert words[words.index("-u") + 1] == f"{demo.username}:{demo.password}"
    assert words[words.index("-H") + 1].lower() == "content-type: application/json"
    body = json.loads(words[words.index("--data-raw") + 1])
    request = parse_create_call(body)  # the body is valid...
    assert request.from_ in demo.numbers  # ...from the demo's own number...
    assert request.application_id == demo.application_id  # ...and application


# -- inbound: applications' voice settings and the numbers they answer ----------------------------


def voice_account() -> AccountConfig:
    voice = VoiceSettings(
        call_initiated_callback_url="https://app.example/initiate",
        call_status_callback_url="https://app.example/status",
        callback_username="hook",
        callback_password="hook-secret",
        fallback_password="fallback-secret",
        callback_timeout=7.0,
    )
    return account(
        applications=(
            ApplicationConfig(APP_1, "IVR", voice, ("+15555550001",)),
            ApplicationConfig(APP_2, "Sales"),
        )
    )


def test_voice_settings_are_stored_with_passwords_sealed(connection: sqlite3.Connection) -> None:
    apply_accounts(connection, (voice_account(),))
    stored = snapshot(connection)
    voice = stored.applications[APP_1].voice
    assert voice.call_initiated_callback_url == "https://app.example/initiate"
    assert voice.callback_timeout == 7.0
    assert voice.callback_password is not None and is_sealed(voice.callback_password)
    assert VAULT.open(voice.callback_password) == "hook-secret"
    assert voice.fallback_password is not None
    assert VAULT.open(voice.fallback_password) == "fallback-secret"
    raw = " ".join(str(row) for row in connection.execute("SELECT voice FROM applications"))
    assert "hook-secret" not in raw and "fallback-secret" not in raw
    # The number rings the application that lists it; the other rings none.
    assert stored.number_application("+15555550001")[1] == stored.applications[APP_1]
    assert stored.number_application("+15555550002") == (stored.numbers["+15555550002"], None)


def test_an_unchanged_file_rewrites_no_sealed_password(connection: sqlite3.Connection) -> None:
    apply_accounts(connection, (voice_account(),))
    before = snapshot(connection).applications[APP_1]
    generation = provisioning_db.generation(connection)
    apply_accounts(connection, (voice_account(),))
    assert snapshot(connection).applications[APP_1] == before
    assert provisioning_db.generation(connection) == generation


def test_a_changed_password_is_sealed_anew(connection: sqlite3.Connection) -> None:
    apply_accounts(connection, (voice_account(),))
    changed = voice_account()
    app = changed.applications[0]
    new_voice = VoiceSettings(**{**app.voice.to_json(), "callback_password": "rotated"})
    apply_accounts(
        connection,
        (account(applications=(ApplicationConfig(APP_1, "IVR", new_voice, app.numbers),)),),
    )
    sealed = snapshot(connection).applications[APP_1].voice.callback_password
    assert sealed is not None and VAULT.open(sealed) == "rotated"
