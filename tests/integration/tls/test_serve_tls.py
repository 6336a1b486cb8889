"""`switchboard serve` with `[server.tls]` (issue 22): one process, two listeners, one app.

A call created over TLS as voice.bandwidth.com is the call the plain listener shows, its URLs
carry the name the client used, and SIGTERM stops both listeners and the process."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from switchboard.testing import bandwidth_hosts
from switchboard.tls.ca import tls_files
from tests.integration.reliability.process import ServerProcess, free_port, wait_until
from tests.support.receiver import Receiver
from tests.support.server import (
    ACCOUNT_ID,
    APPLICATION_ID,
    CONFIG,
    FROM_NUMBER,
    PASSWORD,
    USERNAME,
)

CALLS = f"https://voice.bandwidth.com/api/v2/accounts/{ACCOUNT_ID}/calls"
AUTH = (USERNAME, PASSWORD)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ServerProcess, int]]:
    tls_port = free_port()
    config = tmp_path / "switchboard.toml"
    config.write_text(f"{CONFIG}\n[server.tls]\nenabled = true\nport = {tls_port}\n")
    server = ServerProcess(config, free_port()).start()
    try:
        yield server, tls_port
    finally:
        server.stop()


def test_both_listeners_serve_one_app_and_stop_on_sigterm(
    served: tuple[ServerProcess, int], app: Receiver, tmp_path: Path
) -> None:
    server, tls_port = served
    ca_file = tls_files(tmp_path / "data").ca_cert
    with bandwidth_hosts("127.0.0.1", tls_port, ca_file), httpx.Client(auth=AUTH) as tls:
        # The TLS listener opens just after the app has started: /readyz may answer first.
        wait_until(lambda: tls.get(CALLS).status_code == 200, 30, "the TLS listener", server=server)
        created = tls.post(
            CALLS,
            json={
                "from": FROM_NUMBER,
                "to": "+15555551313",
                "applicationId": APPLICATION_ID,
                "answerUrl": app.url("/answer"),
            },
        )
        assert created.status_code == 201, created.text
        call_id = created.json()["callId"]
        assert created.headers["location"] == created.json()["callUrl"] == f"{CALLS}/{call_id}"

        plain = httpx.get(
            f"{server.base_url}/api/v2/accounts/{ACCOUNT_ID}/calls/{call_id}", auth=AUTH
        )
        assert plain.status_code == 200 and plain.json()["callId"] == call_id

        ended = tls.post(f"{CALLS}/{call_id}", json={"state": "completed"})
        assert ended.status_code == 200, ended.text

    server.terminate()
    assert server.wait(30) == 0, server.stderr_text()


def test_a_taken_tls_port_stops_the_start_saying_why(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "switchboard.toml"
        config.write_text(f"{CONFIG}\n[server.tls]\nenabled = true\nport = {port}\n")
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "switchboard.cli",
                "serve",
                "--config",
                str(config),
                "--port",
                "0",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 3  # uvicorn's startup failure
    assert "Address already in use" in done.stderr
