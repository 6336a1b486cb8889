"""`switchboard accounts limits`: show, set and forget an account's calls per second, concurrent
calls and outbound queue, and what a running server does with them at once."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from bandwidth import ApiClient, Configuration
from bandwidth.api.calls_api import CallsApi
from bandwidth.api.statistics_api import StatisticsApi
from bandwidth.exceptions import ApiException
from bandwidth.models.create_call import CreateCall

from tests.support.receiver import Receiver
from tests.support.server import (
    ACCOUNT_ID,
    APPLICATION_ID,
    FROM_NUMBER,
    PASSWORD,
    USERNAME,
    VirtualTimeServer,
    start_virtual_server,
)

DEFAULTS = """\
account 1234567
calls per second  5
concurrent calls  100
outbound queue    on (up to 1500 calls)
"""


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

    def ok(self, *args: str) -> str:
        result = switchboard(*args, "--data-dir", str(self.data_dir))
        assert (result.returncode, result.stderr) == (0, ""), result.stderr
        return result.stdout

    def fails(self, *args: str) -> str:
        result = switchboard(*args, "--data-dir", str(self.data_dir))
        assert (result.returncode, result.stdout) == (2, ""), result.stdout
        return result.stderr


@pytest.fixture
def acme(tmp_path: Path) -> Cli:
    cli = Cli(tmp_path / "data")
    assert cli.ok("accounts", "create", "--id", "1234567", "--name", "Acme") == "1234567\n"
    return cli


def test_show_set_and_forget_an_accounts_limits(acme: Cli) -> None:
    assert acme.ok("accounts", "limits", "1234567") == DEFAULTS

    changed = acme.ok(
        "accounts", "limits", "1234567", "--cps", "2", "--concurrent", "10", "--queue", "off"
    )
    assert changed == (
        "account 1234567\n"
        "calls per second  2\n"
        "concurrent calls  10\n"
        "outbound queue    off (up to 0 calls)\n"
    )
    assert acme.ok("accounts", "limits", "1234567") == changed  # kept
    # One limit at a time: the others stay as they were.
    assert acme.ok("accounts", "limits", "1234567", "--queue", "on").endswith(
        "concurrent calls  10\noutbound queue    on (up to 600 calls)\n"
    )
    # A fractional rate is allowed (one call every 2 s); the queue holds 5 minutes of it.
    assert "outbound queue    on (up to 150 calls)" in acme.ok(
        "accounts", "limits", "1234567", "--cps", "0.5"
    )
    assert acme.ok("accounts", "limits", "1234567", "--default") == DEFAULTS
    # `accounts create` renames an account and keeps its limits.
    acme.ok("accounts", "limits", "1234567", "--cps", "7")
    acme.ok("accounts", "create", "--id", "1234567", "--name", "Acme Corp")
    assert "calls per second  7\n" in acme.ok("accounts", "limits", "1234567")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--cps", "0"), "--cps must be a positive number"),
        (("--cps", "-1"), "--cps must be a positive number"),
        (("--cps", "nan"), "--cps must be a positive number"),
        (("--cps", "inf"), "--cps must be a positive number"),
        (("--concurrent", "0"), "--concurrent must be at least 1"),
    ],
)
def test_bad_values_are_refused_and_change_nothing(
    acme: Cli, args: tuple[str, ...], message: str
) -> None:
    assert acme.fails("accounts", "limits", "1234567", *args) == f"switchboard: {message}\n"
    assert acme.ok("accounts", "limits", "1234567") == DEFAULTS


def test_an_unknown_account_is_refused(acme: Cli) -> None:
    assert acme.fails("accounts", "limits", "7654321", "--cps", "3") == (
        "switchboard: no account '7654321'\n"
    )


# -- on a running server ----------------------------------------------------------------------


@pytest.fixture
def server(tmp_path: Path) -> Iterator[VirtualTimeServer]:
    running = start_virtual_server(tmp_path)
    yield running
    running.advance(3600)  # let every call end before the server stops
    running.stop()


def test_limits_set_with_the_cli_apply_to_the_next_request_of_a_running_server(
    server: VirtualTimeServer, app: Receiver
) -> None:
    cli = Cli(server.data_dir)
    configuration = Configuration(
        username=USERNAME, password=PASSWORD, host=server.api_url, ignore_operation_servers=True
    )
    body = CreateCall(
        to="+15555550108",
        var_from=FROM_NUMBER,
        application_id=APPLICATION_ID,
        answer_url=app.url("/answer"),
    )
    with ApiClient(configuration) as client:
        calls, statistics = CallsApi(client), StatisticsApi(client)

        def queue() -> tuple[int, int]:
            stats = statistics.get_statistics(ACCOUNT_ID)
            return stats.current_call_queue_size, stats.max_call_queue_size

        def create() -> str:
            call_id = calls.create_call(ACCOUNT_ID, body).call_id
            return str(calls.get_call_state(ACCOUNT_ID, call_id).state)

        assert queue() == (0, 1500)
        cli.ok("accounts", "limits", ACCOUNT_ID, "--cps", "2", "--queue", "off")
        assert queue() == (0, 0)
        assert [create(), create()] == ["initiated", "initiated"]
        with pytest.raises(ApiException) as refused:
            create()
        assert refused.value.status == 429
        assert orjson.loads(refused.value.body or "") == {
            "type": "error",
            "description": "Account call creation rate limit exceeded",
            "id": "",
        }

        cli.ok("accounts", "limits", ACCOUNT_ID, "--queue", "on")
        assert queue() == (0, 600)
        assert create() == "queued"
        assert queue() == (1, 600)
        server.advance(1)
        assert queue() == (0, 600)

        cli.ok("accounts", "limits", ACCOUNT_ID, "--default")
        assert queue() == (0, 1500)
        server.advance(1)
        assert [create() for _ in range(5)] == ["initiated"] * 5
