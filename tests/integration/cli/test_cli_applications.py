"""`switchboard applications add|update|show` and `numbers assign|unassign`: the settings that send
an application's inbound calls somewhere, run as an operator runs them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from switchboard.provisioning.vault import KEY_FILE, Vault
from tests.integration.cli.test_cli_provisioning import APP, Cli

SECRET = "hook-secret-123"


@pytest.fixture
def acme(tmp_path: Path) -> Cli:
    cli = Cli(tmp_path / "data")
    assert cli.ok("accounts", "create", "--id", "1234567", "--name", "Acme") == "1234567\n"
    return cli


def stored_voice(cli: Cli) -> str:
    with sqlite3.connect(cli.data_dir / "switchboard.db") as database:
        (voice,) = database.execute(
            "SELECT voice FROM applications WHERE id = ?", (APP,)
        ).fetchone()
    return str(voice)


def test_add_with_voice_settings_then_show_them_without_the_password(acme: Cli) -> None:
    assert (
        acme.ok(
            "applications",
            "add",
            "1234567",
            "IVR",
            "--id",
            APP,
            "--call-initiated-callback-url",
            "https://ivr.example/initiate",
            "--call-status-callback-url",
            "https://ivr.example/status",
            "--call-status-method",
            "get",
            "--callback-username",
            "hook",
            "--callback-password",
            SECRET,
            "--callback-timeout",
            "8",
        )
        == f"{APP}\n"
    )
    shown = acme.ok("applications", "show", APP)
    assert "call_initiated_callback_url    https://ivr.example/initiate" in shown
    assert "call_status_method             GET" in shown
    assert "callback_password              (set)" in shown
    assert "callback_timeout               8.0" in shown
    assert SECRET not in shown
    # Sealed in the database, openable with the data dir's key (created 0600).
    assert SECRET not in stored_voice(acme)
    key_file = acme.data_dir / KEY_FILE
    assert key_file.stat().st_mode & 0o777 == 0o600
    sealed = stored_voice(acme).split('"callback_password":"')[1].split('"')[0]
    assert Vault(key_file.read_bytes()).open(sealed) == SECRET


def test_update_changes_only_what_it_names(acme: Cli) -> None:
    acme.ok(
        "applications",
        "add",
        "1234567",
        "IVR",
        "--id",
        APP,
        "--call-initiated-callback-url",
        "https://ivr.example/initiate",
        "--callback-password",
        SECRET,
    )
    before = stored_voice(acme)
    acme.ok("applications", "update", APP, "--name", "Renamed")
    assert stored_voice(acme) == before  # the sealed password is not re-sealed
    acme.ok("applications", "update", APP, "--call-initiated-callback-url", "")
    shown = acme.ok("applications", "show", APP)
    assert "Renamed" in shown and "call_initiated_callback_url" not in shown
    assert "callback_password              (set)" in shown


def test_bad_settings_are_refused_with_the_option_named(acme: Cli) -> None:
    acme.ok("applications", "add", "1234567", "IVR", "--id", APP)
    assert "--call-status-method must be GET or POST" in acme.fails(
        "applications", "update", APP, "--call-status-method", "PUT"
    )
    assert "--callback-timeout must be a number" in acme.fails(
        "applications", "update", APP, "--callback-timeout", "soon"
    )
    assert "no application" in acme.fails(
        "applications", "update", "3c0e5f4a-0000-4000-8000-000000000000", "--name", "x"
    )


def test_a_url_carrying_user_password_is_refused_naming_the_options_to_use(acme: Cli) -> None:
    # Issue 23: the password would be stored, shown by `applications show` and logged.
    acme.ok("applications", "add", "1234567", "IVR", "--id", APP)
    refused = acme.fails(
        "applications",
        "update",
        APP,
        "--call-status-callback-url",
        f"https://hook:{SECRET}@ivr.example/status",
    )
    assert "--call-status-callback-url must not carry user:password@" in refused
    assert "--callback-username and --callback-password" in refused
    assert SECRET not in refused
    assert SECRET not in stored_voice(acme)
    assert "call_status_callback_url" not in acme.ok("applications", "show", APP)


def test_numbers_assign_and_unassign(acme: Cli) -> None:
    acme.ok("applications", "add", "1234567", "IVR", "--id", APP)
    acme.ok("numbers", "add", "1234567", "+15555550001")
    assert acme.ok("numbers", "assign", "+15555550001", APP) == (
        f"+15555550001 rings application {APP}\n"
    )
    assert f"1234567\t+15555550001\t{APP}" in acme.ok("numbers", "list")
    assert "+15555550001" in acme.ok("applications", "show", APP)
    acme.ok("numbers", "add", "1234567", "+15555550001")  # adding again keeps the application
    assert APP in acme.ok("numbers", "list")
    assert acme.ok("numbers", "unassign", "+15555550001") == "+15555550001 rings no application\n"
    assert APP not in acme.ok("numbers", "list")


def test_a_number_rings_only_an_application_of_its_own_account(acme: Cli) -> None:
    acme.ok("applications", "add", "1234567", "IVR", "--id", APP)
    acme.ok("accounts", "create", "--id", "7654321")
    acme.ok("numbers", "add", "7654321", "+15555550002")
    assert "a number rings only an application of its own account" in acme.fails(
        "numbers", "assign", "+15555550002", APP
    )
    assert "is no account's number" in acme.fails("numbers", "assign", "+15555550003", APP)
