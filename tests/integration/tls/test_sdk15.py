"""The real old client (issue 22): bandwidth-sdk 15.0.1, which hard-codes
https://voice.bandwidth.com/api/v2, runs unchanged against Switchboard's TLS listener.

The SDK lives in a virtual environment of its own (its pydantic 1 cannot share ours), built
from PyPI on first use and cached under ~/.cache/switchboard-tests (SWITCHBOARD_TEST_CACHE
elsewhere); building it is the only time this test leaves 127.0.0.1. Without PyPI it skips,
saying why (and CI, where skips fail the run, must have PyPI). The app (sdk15_app.py) routes
Bandwidth's names in its own process with switchboard.testing.bandwidth_hosts: no /etc/hosts.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from tests.support.receiver import Receiver
from tests.support.server import ACCOUNT_ID, APPLICATION_ID, FROM_NUMBER, PASSWORD, USERNAME
from tests.support.tls import TlsServer, tls_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SDK = "bandwidth-sdk==15.0.1"
REPO = Path(__file__).resolve().parents[3]
APP = Path(__file__).with_name("sdk15_app.py")
CALLS = f"https://voice.bandwidth.com/api/v2/accounts/{ACCOUNT_ID}/calls"
INSTALL_SECONDS = 420
STEP_SECONDS = 60


def _cache() -> Path:
    root = os.environ.get("SWITCHBOARD_TEST_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "switchboard-tests"
    tag = f"py{sys.version_info.major}{sys.version_info.minor}"
    return base / f"bandwidth-sdk-15.0.1-{tag}"


def sdk15_python() -> Path:
    """The venv's python, built once: a lock keeps parallel runs from building it twice, and
    the marker is written last, so a build cut short is redone rather than trusted."""
    venv = _cache()
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():
            return python
        steps = [
            [sys.executable, "-m", "venv", "--clear", str(venv)],
            [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", SDK],
        ]
        for step in steps:
            try:
                done = subprocess.run(
                    step, capture_output=True, text=True, timeout=INSTALL_SECONDS, check=False
                )
            except subprocess.TimeoutExpired:
                pytest.skip(f"{' '.join(step[2:4])}: no answer in {INSTALL_SECONDS} s (PyPI?)")
            if done.returncode != 0:
                pytest.skip(
                    f"could not build a venv with {SDK} ({' '.join(step)} exited "
                    f"{done.returncode}): {done.stderr.strip()[-600:]}"
                )
        marker.write_text(SDK)
    return python


@pytest.fixture(scope="module")
def bw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    with tls_server(tmp_path_factory.mktemp("sdk15")) as running:
        yield running


def _line(stream: IO[str], process: subprocess.Popen[str]) -> dict[str, Any]:
    line = stream.readline()
    if not line:
        process.wait(STEP_SECONDS)
        assert process.stderr is not None
        raise AssertionError(f"the SDK 15 app stopped: {process.stderr.read()[-3000:]}")
    value: dict[str, Any] = json.loads(line)
    return value


def test_sdk15_app_runs_unchanged_against_switchboard(bw: TlsServer, app: Receiver) -> None:
    python = sdk15_python()
    app.on("/answer", "<Response><Pause duration='30'/></Response>")
    arguments = {
        "port": bw.port,
        "ca": str(bw.ca_file),
        "account": ACCOUNT_ID,
        "username": USERNAME,
        "password": PASSWORD,
        "from": FROM_NUMBER,
        "application": APPLICATION_ID,
        "answer_url": app.url("/answer"),
        "disconnect_url": app.url("/disconnect"),
    }
    # Only the stdlib router comes from our tree; the rest of the environment is the venv's.
    environment = {**os.environ, "PYTHONPATH": str(REPO / "src"), "PYTHONNOUSERSITE": "1"}
    with subprocess.Popen(
        [str(python), str(APP), json.dumps(arguments)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    ) as process:
        try:
            _run(bw, app, process)
        finally:
            if process.poll() is None:
                process.kill()


def _run(bw: TlsServer, app: Receiver, process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None and process.stdout is not None
    created = _line(process.stdout, process)
    assert created["sdk"] == "15.0.1" and created["status"] == 201
    call_id = created["call_id"]
    assert created["call_url"] == created["location"] == f"{CALLS}/{call_id}"

    bw.server.advance(3)  # the simulated phone answers after 2 s
    [answer] = app.events("answer")
    assert answer["callId"] == call_id and answer["callUrl"] == f"{CALLS}/{call_id}"
    process.stdin.write("go\n")
    process.stdin.flush()

    assert _line(process.stdout, process) == {
        "step": "got",
        "state": "answered",
        "call_id": call_id,
    }
    listed = _line(process.stdout, process)
    assert listed["status"] == 200 and call_id in listed["ids"]
    assert _line(process.stdout, process) == {"step": "updated", "status": 200}
    assert process.wait(STEP_SECONDS) == 0

    bw.server.advance(1)
    [disconnect] = app.events("disconnect")
    assert disconnect["callId"] == call_id and disconnect["cause"] == "hangup"
