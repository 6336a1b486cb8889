"""`switchboard accounts | users | oauth-clients | applications | numbers`, run as a user runs them,
against a data dir of their own and against the data dir of a running server."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.create_call_cases import seed_body
from tests.support.http import assert_error, calls_path
from tests.support.server import (
    ACCOUNT_ID,
    CLIENT_ID,
    CLIENT_SECRET,
    PASSWORD,
    USERNAME,
    VirtualTimeServer,
    start_virtual_server,
)

TOKEN_PATH = "/api/v1/oauth2/token"
APP = "3c0e5f4a-0000-4000-8000-00000000abcd"


def switchboard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "switchboard.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


class Cli:
    """The CLI bound to one data dir."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return switchboard(*args, "--data-dir", str(self.data_dir))

    def ok(self, *args: str) -> str:
        result = self(*args)
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        return result.stdout

    def fails(self, *args: str) -> str:
        result = self(*args)
        assert result.returncode == 2, result.stdout
        assert result.stdout == ""
        return result.stderr


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "data")


@pytest.fixture
def acme(cli: Cli) -> Cli:
    assert cli.ok("accounts", "create", "--id", "1234567", "--name", "Acme") == "1234567\n"
    return cli


# -- against a data dir ----------------------------------------------------------------------


def test_console_script_is_installed(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "switchboard"
    result = subprocess.run(
        [str(script), "accounts", "list", "--data-dir", str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout) == (0, "id\tname\n")


def test_accounts_create_and_list(acme: Cli) -> None:
    generated = acme.ok("accounts", "create", "--name", "Beta").strip()
    assert re.fullmatch(r"[1-9][0-9]{6}", generated)
    listed = acme.ok("accounts", "list").splitlines()
    assert listed[0] == "id\tname"
    assert sorted(listed[1:]) == sorted(["1234567\tAcme", f"{generated}\tBeta"])


def test_accounts_create_renames_an_existing_account(acme: Cli) -> None:
    acme.ok("accounts", "create", "--id", "1234567", "--name", "Acme Corp")
    assert acme.ok("accounts", "list") == "id\tname\n1234567\tAcme Corp\n"


def test_accounts_create_rejects_a_bad_id(cli: Cli) -> None:
    # Every shape of bad id is in tests/unit/provisioning; here, what the user sees.
    assert cli.fails("accounts", "create", "--id", "12345678") == (
        "switchboard: account id must be 7 digits, got '12345678'\n"
    )


def test_users_add_with_password_list_and_remove(acme: Cli) -> None:
    assert acme.ok("users", "add", "1234567", "ann", "--password", "pw-1") == (
        "user ann of account 1234567\n"
    )
    assert acme.ok("users", "list") == "account\tusername\n1234567\tann\n"
    assert acme.ok("users", "remove", "ann") == "removed user ann\n"
    assert acme.ok("users", "list") == "account\tusername\n"
    assert acme.fails("users", "remove", "ann") == "switchboard: no user 'ann'\n"


def test_users_add_without_password_prints_a_random_one(acme: Cli) -> None:
    lines = acme.ok("users", "add", "1234567", "ann").splitlines()
    assert lines[0] == "user ann of account 1234567"
    password = lines[1].removeprefix("password ")
    assert lines[1].startswith("password ") and len(password) >= 20


def test_secrets_are_not_stored_in_plain_text(acme: Cli) -> None:
    acme.ok("users", "add", "1234567", "ann", "--password", "very-plain-password")
    acme.ok("oauth-clients", "add", "1234567", "--client-id", "c1", "--client-secret", "plain-cs")
    database = (acme.data_dir / "switchboard.db").read_bytes()
    wal = acme.data_dir / "switchboard.db-wal"
    everything = database + (wal.read_bytes() if wal.exists() else b"")
    assert b"very-plain-password" not in everything and b"plain-cs" not in everything


def test_users_add_to_an_unknown_account(cli: Cli) -> None:
    assert cli.fails("users", "add", "7654321", "ann", "--password", "x") == (
        "switchboard: no account '7654321' (create it with: switchboard accounts create)\n"
    )


def test_oauth_clients_add_and_list(acme: Cli) -> None:
    out = acme.ok(
        "oauth-clients", "add", "1234567", "--client-id", "acme-app", "--client-secret", "s3"
    )
    assert out == "client_id acme-app\n"
    generated = acme.ok("oauth-clients", "add", "1234567").splitlines()
    assert generated[0].startswith("client_id ") and generated[1].startswith("client_secret ")
    client_id = generated[0].removeprefix("client_id ")
    listed = acme.ok("oauth-clients", "list").splitlines()
    assert listed[0] == "account\tclient_id"
    assert sorted(listed[1:]) == sorted(["1234567\tacme-app", f"1234567\t{client_id}"])
    assert acme.ok("oauth-clients", "remove", "acme-app") == "removed oauth-client acme-app\n"


def test_applications_add_and_list(acme: Cli) -> None:
    assert acme.ok("applications", "add", "1234567", "IVR", "--id", APP) == f"{APP}\n"
    generated = acme.ok("applications", "add", "1234567", "Sales").strip()
    uuid.UUID(generated)
    assert acme.ok("applications", "list") == (
        f"account\tid\tname\n1234567\t{APP}\tIVR\n1234567\t{generated}\tSales\n"
    )


def test_applications_add_rejects_a_non_uuid(acme: Cli) -> None:
    assert acme.fails("applications", "add", "1234567", "IVR", "--id", "ivr-1") == (
        "switchboard: application id must be a UUID, got 'ivr-1'\n"
    )


def test_numbers_add_and_list(acme: Cli) -> None:
    out = acme.ok("numbers", "add", "1234567", "+15555550002", "+15555550001")
    assert out == "2 number(s) on account 1234567\n"
    assert acme.ok("numbers", "list") == (
        "account\tnumber\tapplication\n1234567\t+15555550001\t-\n1234567\t+15555550002\t-\n"
    )


def test_numbers_add_rejects_non_e164_and_adds_nothing(acme: Cli) -> None:
    assert acme.fails("numbers", "add", "1234567", "+15555550009", "+1 555") == (
        "switchboard: '+1 555' is not an E.164 number like +15555551212\n"
    )
    assert acme.ok("numbers", "list") == "account\tnumber\tapplication\n"


def test_add_never_moves_a_record_from_another_account(acme: Cli) -> None:
    acme.ok("accounts", "create", "--id", "7654321", "--name", "Other")
    acme.ok("users", "add", "1234567", "ann", "--password", "x")
    acme.ok("oauth-clients", "add", "1234567", "--client-id", "c1", "--client-secret", "s")
    acme.ok("applications", "add", "1234567", "IVR", "--id", APP)
    acme.ok("numbers", "add", "1234567", "+15555550001")
    attempts = {
        "user": ("users", "add", "7654321", "ann", "--password", "y"),
        "oauth-client": ("oauth-clients", "add", "7654321", "--client-id", "c1"),
        "application": ("applications", "add", "7654321", "Stolen", "--id", APP),
        "number": ("numbers", "add", "7654321", "+15555550002", "+15555550001"),
    }
    keys = {"user": "ann", "oauth-client": "c1", "application": APP, "number": "+15555550001"}
    for kind, args in attempts.items():
        assert acme.fails(*args) == (
            f"switchboard: {kind} {keys[kind]!r} belongs to account 1234567; "
            f"remove it there first (switchboard {kind}s remove {keys[kind]})\n"
        )
    assert acme.ok("numbers", "list") == (
        "account\tnumber\tapplication\n1234567\t+15555550001\t-\n"
    )
    assert acme.ok("users", "list") == "account\tusername\n1234567\tann\n"


def test_accounts_remove_takes_what_the_account_owns(acme: Cli) -> None:
    acme.ok("users", "add", "1234567", "ann", "--password", "x")
    acme.ok("numbers", "add", "1234567", "+15555550001")
    acme.ok("applications", "add", "1234567", "IVR")
    assert acme.ok("accounts", "remove", "1234567") == "removed account 1234567\n"
    assert acme.ok("users", "list") == "account\tusername\n"
    assert acme.ok("numbers", "list") == "account\tnumber\tapplication\n"
    assert acme.ok("applications", "list") == "account\tid\tname\n"


def test_no_command_prints_help(cli: Cli) -> None:
    result = switchboard()
    assert result.returncode == 2
    assert "accounts" in result.stdout and "users" in result.stdout


def test_config_file_errors_are_one_clear_line(tmp_path: Path) -> None:
    config = tmp_path / "switchboard.toml"
    config.write_text('[[accounts]]\nid = "12345"\n')
    result = switchboard("accounts", "list", "--config", str(config))
    assert result.returncode == 2
    assert result.stderr == (
        "switchboard: accounts[0].id must be 7 digits like Bandwidth's, got '12345'\n"
    )


def test_missing_config_file(tmp_path: Path) -> None:
    result = switchboard("serve", "--config", str(tmp_path / "nope.toml"))
    assert result.returncode == 2
    assert result.stderr == f"switchboard: {tmp_path / 'nope.toml'}: no such file\n"


# -- against a running server: changes take effect at once -----------------------------------


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[VirtualTimeServer, Cli, httpx.Client]]:
    running = start_virtual_server(tmp_path)
    with httpx.Client(base_url=running.base_url, timeout=10) as client:
        yield running, Cli(running.data_dir), client
    running.stop()


def post_call(client: httpx.Client, auth: tuple[str, str], **changes: object) -> httpx.Response:
    return client.post(calls_path(), json=seed_body(**changes), auth=auth)


def test_user_added_by_cli_works_at_once(live: tuple[VirtualTimeServer, Cli, httpx.Client]) -> None:
    _, cli, client = live
    assert post_call(client, ("carol", "carol-pw")).status_code == 401
    cli.ok("users", "add", ACCOUNT_ID, "carol", "--password", "carol-pw")
    assert post_call(client, ("carol", "carol-pw")).status_code == 201


def test_random_password_printed_by_cli_works(
    live: tuple[VirtualTimeServer, Cli, httpx.Client],
) -> None:
    _, cli, client = live
    password = cli.ok("users", "add", ACCOUNT_ID, "dave").splitlines()[1].removeprefix("password ")
    assert post_call(client, ("dave", password)).status_code == 201


def test_user_removed_by_cli_is_refused_at_once(
    live: tuple[VirtualTimeServer, Cli, httpx.Client],
) -> None:
    _, cli, client = live
    assert post_call(client, (USERNAME, PASSWORD)).status_code == 201  # now cached as valid
    cli.ok("users", "remove", USERNAME)
    response = post_call(client, (USERNAME, PASSWORD))
    assert_error(response, 401, "authentication-error", "The credentials provided were invalid")


def test_password_changed_by_cli_takes_effect_at_once(
    live: tuple[VirtualTimeServer, Cli, httpx.Client],
) -> None:
    _, cli, client = live
    assert post_call(client, (USERNAME, PASSWORD)).status_code == 201
    cli.ok("users", "add", ACCOUNT_ID, USERNAME, "--password", "rotated-password")
    assert post_call(client, (USERNAME, PASSWORD)).status_code == 401
    assert post_call(client, (USERNAME, "rotated-password")).status_code == 201


def test_number_and_application_added_by_cli_can_place_calls(
    live: tuple[VirtualTimeServer, Cli, httpx.Client],
) -> None:
    _, cli, client = live
    auth = (USERNAME, PASSWORD)
    changes = {"from": "+15555557777", "applicationId": APP}
    assert post_call(client, auth, **changes).json()["description"] == (
        f"Could not create call: Application id {APP} not found"
    )
    cli.ok("applications", "add", ACCOUNT_ID, "Campaigns", "--id", APP)
    assert post_call(client, auth, **changes).json()["description"] == (
        f"Could not create call: from number +15555557777 is not a phone number "
        f"of account {ACCOUNT_ID}"
    )
    cli.ok("numbers", "add", ACCOUNT_ID, "+15555557777")
    response = post_call(client, auth, **changes)
    assert response.status_code == 201
    assert (response.json()["from"], response.json()["applicationId"]) == ("+15555557777", APP)


def test_oauth_client_removed_by_cli_invalidates_its_tokens(
    live: tuple[VirtualTimeServer, Cli, httpx.Client],
) -> None:
    _, cli, client = live
    token = client.post(
        TOKEN_PATH, data={"grant_type": "client_credentials"}, auth=(CLIENT_ID, CLIENT_SECRET)
    ).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.post(calls_path(), json=seed_body(), headers=bearer).status_code == 201
    cli.ok("oauth-clients", "remove", CLIENT_ID)
    response = client.post(calls_path(), json=seed_body(), headers=bearer)
    assert_error(response, 401, "authentication-error")
    again = client.post(
        TOKEN_PATH, data={"grant_type": "client_credentials"}, auth=(CLIENT_ID, CLIENT_SECRET)
    )
    assert again.status_code == 401


def test_oauth_client_added_by_cli_gets_tokens_at_once(
    live: tuple[VirtualTimeServer, Cli, httpx.Client],
) -> None:
    _, cli, client = live
    cli.ok("oauth-clients", "add", ACCOUNT_ID, "--client-id", "new-app", "--client-secret", "ns")
    response = client.post(
        TOKEN_PATH, data={"grant_type": "client_credentials"}, auth=("new-app", "ns")
    )
    assert response.status_code == 200
    bearer = {"Authorization": f"Bearer {response.json()['access_token']}"}
    assert client.post(calls_path(), json=seed_body(), headers=bearer).status_code == 201


def test_account_made_by_cli_places_a_call(
    live: tuple[VirtualTimeServer, Cli, httpx.Client],
) -> None:
    _, cli, client = live
    cli.ok("accounts", "create", "--id", "5550001", "--name", "New")
    cli.ok("users", "add", "5550001", "erin", "--password", "erin-pw")
    cli.ok("applications", "add", "5550001", "IVR", "--id", APP)
    cli.ok("numbers", "add", "5550001", "+15555550505")
    response = client.post(
        calls_path("5550001"),
        json=seed_body(applicationId=APP, **{"from": "+15555550505"}),
        auth=("erin", "erin-pw"),
    )
    assert response.status_code == 201, response.text
    assert response.json()["accountId"] == "5550001"
    # ...and its user has no access to the first account.
    assert post_call(client, ("erin", "erin-pw")).status_code == 403


def test_account_removed_by_cli_locks_its_users_out(
    live: tuple[VirtualTimeServer, Cli, httpx.Client],
) -> None:
    _, cli, client = live
    assert post_call(client, (USERNAME, PASSWORD)).status_code == 201
    cli.ok("accounts", "remove", ACCOUNT_ID)
    assert post_call(client, (USERNAME, PASSWORD)).status_code == 401
