"""The TOML provisioning file: what it defines, and the message for each mistake in it."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchboard.config import (
    AccountConfig,
    ApplicationConfig,
    ConfigError,
    OAuthClientConfig,
    UserConfig,
    load_settings,
)

APP = "7fc9698a-b04a-468b-9e8f-91238c0d0086"

FULL = f"""
[server]
host = "0.0.0.0"
port = 9000
data_dir = "state"
profile = "production"
trust_proxy = true
token_lifetime_seconds = 600

[[accounts]]
id = "9900001"
name = "Alice's company"
numbers = ["+15555551212", "+15555551213"]
  [[accounts.users]]
  username = "alice"
  password = "alice-password"
  [[accounts.oauth_clients]]
  client_id = "alice-client"
  client_secret = "alice-secret"
  [[accounts.applications]]
  id = "{APP}"
  name = "IVR"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "switchboard.toml"
    path.write_text(text)
    return path


def error_for(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text))
    return str(caught.value)


def one_account(body: str, account_id: str = "9900001") -> str:
    return f'[[accounts]]\nid = "{account_id}"\n{body}\n'


def test_full_file(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, FULL))
    assert (settings.host, settings.port) == ("0.0.0.0", 9000)
    assert settings.data_dir == tmp_path / "state"  # relative to the file
    assert settings.database_path == tmp_path / "state" / "switchboard.db"
    assert settings.profile == "production"
    assert settings.trust_proxy is True
    assert settings.token_lifetime_seconds == 600
    assert settings.accounts == (
        AccountConfig(
            id="9900001",
            name="Alice's company",
            users=(UserConfig("alice", "alice-password"),),
            oauth_clients=(OAuthClientConfig("alice-client", "alice-secret"),),
            applications=(ApplicationConfig(APP, "IVR"),),
            numbers=("+15555551212", "+15555551213"),
        ),
    )


def test_defaults_without_a_file() -> None:
    settings = load_settings()
    assert (settings.host, settings.port, settings.data_dir) == ("127.0.0.1", 8080, Path("data"))
    assert settings.profile == "development"
    assert settings.trust_proxy is False
    assert settings.token_lifetime_seconds == 3600
    assert settings.accounts == ()


def test_flags_win_over_the_file(tmp_path: Path) -> None:
    settings = load_settings(
        write(tmp_path, FULL), host="127.0.0.2", port=0, data_dir=tmp_path / "elsewhere"
    )
    assert (settings.host, settings.port) == ("127.0.0.2", 0)
    assert settings.data_dir == tmp_path / "elsewhere"


def test_account_defaults(tmp_path: Path) -> None:
    (account,) = load_settings(write(tmp_path, one_account(""))).accounts
    assert account == AccountConfig(id="9900001", name="Account 9900001")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "nope.toml")
    assert str(caught.value) == f"{tmp_path / 'nope.toml'}: no such file"


def test_not_toml(tmp_path: Path) -> None:
    message = error_for(tmp_path, "[[accounts]\nid = 1")
    assert message.startswith(f"{tmp_path / 'switchboard.toml'}: not valid TOML: ")
    assert "line 1" in message


@pytest.mark.parametrize("account_id", ["123", "12345678", "abcdefg", "990000a", "", "1234567\n"])
def test_bad_account_id(tmp_path: Path, account_id: str) -> None:
    text = one_account("", account_id.replace("\n", "\\n"))
    assert error_for(tmp_path, text) == (
        f"accounts[0].id must be 7 digits like Bandwidth's, got {account_id!r}"
    )


def test_account_id_as_a_toml_integer_is_accepted(tmp_path: Path) -> None:
    (account,) = load_settings(write(tmp_path, "[[accounts]]\nid = 9900001\n")).accounts
    assert account.id == "9900001"


def test_account_without_id(tmp_path: Path) -> None:
    assert error_for(tmp_path, '[[accounts]]\nname = "x"\n') == "accounts[0].id is required"


def test_second_account_is_named_by_its_index(tmp_path: Path) -> None:
    text = one_account("") + one_account("", "42")
    assert error_for(tmp_path, text) == (
        "accounts[1].id must be 7 digits like Bandwidth's, got '42'"
    )


@pytest.mark.parametrize(
    ("numbers", "shown"),
    [
        ('["5555551212"]', "'5555551212'"),
        ('["+1 555 555 1212"]', "'+1 555 555 1212'"),
        ("[15555551212]", "15555551212"),
        ('["+15555551212\\n"]', "'+15555551212\\n'"),
        ('["sip:alice@example.com"]', "'sip:alice@example.com'"),
    ],
)
def test_bad_number(tmp_path: Path, numbers: str, shown: str) -> None:
    assert error_for(tmp_path, one_account(f"numbers = {numbers}")) == (
        f"accounts[0].numbers: {shown} is not an E.164 number like +15555551212"
    )


def test_numbers_not_a_list(tmp_path: Path) -> None:
    assert error_for(tmp_path, one_account('numbers = "+15555551212"')) == (
        "accounts[0].numbers must be a list, got '+15555551212'"
    )


@pytest.mark.parametrize("app_id", ["IVR", "1234", "7fc9698a-b04a-468b-9e8f"])
def test_application_id_must_be_a_uuid(tmp_path: Path, app_id: str) -> None:
    text = one_account(f'[[accounts.applications]]\nid = "{app_id}"')
    assert error_for(tmp_path, text) == (
        f"accounts[0].applications: id {app_id!r} is not a UUID "
        "like 7fc9698a-b04a-468b-9e8f-91238c0d0086"
    )


@pytest.mark.parametrize(
    ("table", "key", "where"),
    [
        ("users", "username", "accounts[0].users[0]"),
        ("users", "password", "accounts[0].users[0]"),
        ("oauth_clients", "client_id", "accounts[0].oauth_clients[0]"),
        ("oauth_clients", "client_secret", "accounts[0].oauth_clients[0]"),
        ("applications", "id", "accounts[0].applications[0]"),
    ],
)
def test_missing_required_keys(tmp_path: Path, table: str, key: str, where: str) -> None:
    full = {
        "users": {"username": '"u"', "password": '"p"'},
        "oauth_clients": {"client_id": '"c"', "client_secret": '"s"'},
        "applications": {"id": f'"{APP}"'},
    }[table]
    lines = "\n".join(f"{k} = {v}" for k, v in full.items() if k != key)
    text = one_account(f"[[accounts.{table}]]\n{lines}")
    assert error_for(tmp_path, text) == f"{where}.{key} is required"


def test_users_must_be_tables(tmp_path: Path) -> None:
    assert error_for(tmp_path, one_account('users = ["alice"]')) == (
        "accounts[0].users must be an array of tables"
    )


def test_accounts_must_be_tables(tmp_path: Path) -> None:
    assert error_for(tmp_path, 'accounts = "9900001"') == "accounts must be an array of tables"


@pytest.mark.parametrize(
    ("kind", "second"),
    [
        ("username", '[[accounts.users]]\nusername = "alice"\npassword = "x"'),
        ("OAuth client_id", '[[accounts.oauth_clients]]\nclient_id = "c"\nclient_secret = "x"'),
        ("number", 'numbers = ["+15555551212"]'),
        ("application id", f'[[accounts.applications]]\nid = "{APP}"'),
    ],
)
def test_same_thing_in_two_accounts(tmp_path: Path, kind: str, second: str) -> None:
    first = (
        'numbers = ["+15555551212"]\n'
        '[[accounts.users]]\nusername = "alice"\npassword = "a"\n'
        '[[accounts.oauth_clients]]\nclient_id = "c"\nclient_secret = "s"\n'
        f'[[accounts.applications]]\nid = "{APP}"'
    )
    key = {"username": "alice", "OAuth client_id": "c", "number": "+15555551212"}.get(kind, APP)
    text = one_account(first) + one_account(second, "9900002")
    assert error_for(tmp_path, text) == (
        f"{kind} {key!r} is given to two accounts (9900001 and 9900002); "
        "each may belong to one account only"
    )


def test_same_account_twice(tmp_path: Path) -> None:
    assert error_for(tmp_path, one_account("") + one_account("")) == (
        "account id '9900001' appears more than once in [[accounts]]"
    )


POSITIVE = "must be a positive number of seconds"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            'profile = "staging"',
            "[server] profile must be one of development, production, got 'staging'",
        ),
        ('trust_proxy = "yes"', "server.trust_proxy must be true or false, got 'yes'"),
        ('port = "8080"', "server.port must be an integer, got '8080'"),
        ("port = true", "server.port must be an integer, got True"),
        ("data_dir = 1", "server.data_dir must be a string, got 1"),
        ("token_lifetime_seconds = 0", f"server.token_lifetime_seconds {POSITIVE}, got 0"),
        ("token_lifetime_seconds = -60", f"server.token_lifetime_seconds {POSITIVE}, got -60"),
    ],
)
def test_bad_server_settings(tmp_path: Path, line: str, message: str) -> None:
    assert error_for(tmp_path, f"[server]\n{line}\n") == message


def test_server_must_be_a_table(tmp_path: Path) -> None:
    assert error_for(tmp_path, 'server = "x"\n') == "[server] must be a table"
