"""`switchboard serve` with no config: the demo account, its banner, and its curl command."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest

BANNER_END = "The password is shown only this once"
LATER_START = "its password was printed on the first start"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def read_until(stream: IO[str], marker: str) -> str:
    """Lines up to and including the one holding `marker` ("" at EOF: the server died)."""
    seen: list[str] = []
    for line in stream:
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"stream ended before {marker!r}:\n{''.join(seen)}")


@contextmanager
def serving(data_dir: Path, port: int) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "switchboard.cli",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()
        process.stderr.close()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_first_start_prints_a_working_curl_command_later_starts_no_password(
    tmp_path: Path,
) -> None:
    port = free_port()
    data_dir = tmp_path / "data"
    with serving(data_dir, port) as process:
        assert process.stdout is not None and process.stderr is not None
        banner = read_until(process.stdout, BANNER_END)
        read_until(process.stderr, "Uvicorn running on")
        password = re.search(r"^  password +(\S+)$", banner, re.MULTILINE)
        account = re.search(r"^  account id +(\d{7})$", banner, re.MULTILINE)
        assert password is not None and account is not None
        command = banner[banner.index("  curl ") : banner.index("\n\n", banner.index("  curl "))]
        assert f"http://127.0.0.1:{port}/api/v2/accounts/{account.group(1)}/calls" in command
        # Paste it into a shell, as the banner says.
        result = subprocess.run(
            ["bash", "-c", command.strip() + " -sS -i"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.stdout.startswith("HTTP/1.1 201"), result.stdout + result.stderr
        assert '"accountId":"' + account.group(1) in result.stdout

    with serving(data_dir, port) as process:
        assert process.stdout is not None and process.stderr is not None
        notice = read_until(process.stdout, LATER_START)
        read_until(process.stderr, "Uvicorn running on")
        assert account.group(1) in notice
        assert password.group(1) not in notice
