"""A real `switchboard serve` process, for tests that kill or signal it.

Its stderr goes to a file beside its config, appended to by every start in that directory: a
pipe nobody reads while the server runs would fill (64 KB) and block a chatty server in the
middle of a test. What it wrote is read back from the file (`stderr_text`), e.g. to say why it
did not start.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class ServerProcess:
    config: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stderr_path(self) -> Path:
        return self.config.parent / "server-stderr.log"

    def stderr_text(self, last: int = 4000) -> str:
        """The end of what the server (and any earlier one in its directory) wrote to stderr."""
        try:
            return self.stderr_path.read_bytes()[-last:].decode(errors="replace")
        except FileNotFoundError:
            return ""

    def start(self, timeout: float = 30.0) -> ServerProcess:
        # The child keeps its own copy of the file's descriptor; ours is closed at once.
        with self.stderr_path.open("ab") as stderr:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "switchboard.cli",
                    "serve",
                    "--config",
                    str(self.config),
                    "--port",
                    str(self.port),
                ],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()  # no process left behind by a start that failed
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.exit_code() is not None:
                raise RuntimeError(f"server exited: {self.stderr_text(2000)}")
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=2.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)  # waiting for another process to come up, not for our own logic
        raise RuntimeError(f"server did not become ready in {timeout} s: {self.stderr_text(2000)}")

    def exit_code(self) -> int | None:
        """None while the process runs (or was never started)."""
        return None if self.process is None else self.process.poll()

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def terminate(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


def wait_until(
    predicate: Callable[[], object],
    timeout: float,
    what: str,
    *,
    server: ServerProcess | None = None,
) -> None:
    """Poll a condition on another process's effects, with a deadline.

    A predicate that cannot reach the server (httpx.TransportError: not listening yet, busy, or
    gone) counts as not yet true, and the last such error is in the failure message. Given the
    `server`, the wait fails as soon as that process has exited, saying so, instead of polling
    a server that can no longer answer until the deadline."""
    deadline = time.monotonic() + timeout
    unreachable: httpx.TransportError | None = None
    while True:
        try:
            if predicate():
                return
            unreachable = None
        except httpx.TransportError as exc:
            unreachable = exc
        if server is not None and (code := server.exit_code()) is not None:
            raise AssertionError(
                f"the server exited (code {code}) while waiting for {what}; "
                f"its stderr ends:\n{server.stderr_text(2000)}"
            )
        if time.monotonic() >= deadline:
            reason = f" (last try: {unreachable!r})" if unreachable is not None else ""
            raise AssertionError(f"timed out waiting for {what}{reason}")
        time.sleep(0.05)  # waiting for another process, not for our own logic
