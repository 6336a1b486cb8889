"""`switchboard serve` with no config: the demo account, its banner, and its curl command."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import threading
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


class Lines:
    """Every line of a pipe, read by a thread from the start (so the server never blocks on a
    full pipe nobody reads); the test waits for the line it needs, with a deadline."""

    def __init__(self, stream: IO[str]) -> None:
        self._lines: list[str] = []
        self._ended = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._changed:
                self._lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def until(self, marker: str, timeout: float = 30.0) -> str:
        """The lines up to and including the first one holding `marker`."""

        def found() -> int | None:
            return next((i for i, line in enumerate(self._lines) if marker in line), None)

        with self._changed:
            self._changed.wait_for(lambda: found() is not None or self._ended, timeout)
            at = found()
            lines = list(self._lines)
            ended = self._ended
        if at is None:
            why = "the stream ended (the server died)" if ended else f"nothing in {timeout} s"
            raise AssertionError(f"{why} before {marker!r}:\n{''.join(lines)}")
        return "".join(lines[: at + 1])

    def join(self, timeout: float = 10.0) -> None:
        self._thread.join(timeout)


@contextmanager
def serving(data_dir: Path, port: int) -> Iterator[tuple[Lines, Lines]]:
    """A demo server's stdout and stderr, line by line as it writes them."""
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
    assert process.stdout is not None and process.stderr is not None
    stdout, stderr = Lines(process.stdout), Lines(process.stderr)
    try:
        yield stdout, stderr
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        finally:
            if process.poll() is None:  # did not stop on SIGTERM: the test fails, no orphan
                process.kill()
                process.wait(timeout=10)
            stdout.join()
            stderr.join()
            process.stdout.close()
            process.stderr.close()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is missing; make test installs it")
def test_first_start_prints_a_working_curl_command_later_starts_no_password(
    tmp_path: Path,
) -> None:
    port = free_port()
    data_dir = tmp_path / "data"
    with serving(data_dir, port) as (stdout, stderr):
        banner = stdout.until(BANNER_END)
        stderr.until("Uvicorn running on")
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

    with serving(data_dir, port) as (stdout, stderr):
        notice = stdout.until(LATER_START)
        stderr.until("Uvicorn running on")
        assert account.group(1) in notice
        assert password.group(1) not in notice
