"""`switchboard bxml check` and `switchboard calls show`, run as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.receiver import Receiver
from tests.support.server import (
    ACCOUNT_ID,
    APPLICATION_ID,
    FROM_NUMBER,
    PASSWORD,
    USERNAME,
    start_virtual_server,
)

PHONE = """
[[simulator.phones]]
number = "+15555550142"
answer_after = 1.0
"""


def switchboard(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "switchboard.cli", *args],
        input=stdin.decode() if stdin else None,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_bxml_check_lists_every_problem_with_its_position(tmp_path: Path) -> None:
    document = tmp_path / "answer.xml"
    document.write_text(
        "<Response>\n"
        "  <SpeakSentence>Hello</SpeakSentence>\n"
        '  <Gather maxDigits="abc"/>\n'
        "  <Dance/>\n"
        "</Response>\n"
    )
    result = switchboard("bxml", "check", str(document))
    assert result.returncode == 1
    assert "line 3, column 3" in result.stdout and "maxDigits" in result.stdout
    assert "line 4, column 3" in result.stdout and "<Dance>" in result.stdout
    assert "2 problem(s)" in result.stdout


def test_bxml_check_accepts_a_good_document_from_stdin() -> None:
    result = switchboard(
        "bxml", "check", "-", stdin=b"<Response><Pause duration='2'/><Hangup/></Response>"
    )
    assert result.returncode == 0 and "OK" in result.stdout


def test_bxml_check_of_a_missing_file_says_so(tmp_path: Path) -> None:
    result = switchboard("bxml", "check", str(tmp_path / "nope.xml"))
    assert result.returncode == 2 and "cannot read" in result.stderr


def test_calls_show_prints_the_timeline(tmp_path: Path) -> None:
    from tests.support.server import CONFIG

    server = start_virtual_server(tmp_path, CONFIG + PHONE)
    app = Receiver().start()
    try:
        app.on("/answer", "<Response><SpeakSentence>Hi there</SpeakSentence></Response>")
        response = httpx.post(
            f"{server.api_url}/accounts/{ACCOUNT_ID}/calls",
            auth=(USERNAME, PASSWORD),
            json={
                "from": FROM_NUMBER,
                "to": "+15555550142",
                "answerUrl": app.url("/answer"),
                "disconnectUrl": app.url("/disconnect"),
                "applicationId": APPLICATION_ID,
                "password": "never-printed",
                "username": "u",
            },
        )
        call_id = response.json()["callId"]
        server.advance(30)
    finally:
        app.stop()
        server.stop()
    shown = switchboard("calls", "show", call_id, "--data-dir", str(server.data_dir))
    assert shown.returncode == 0, shown.stderr
    assert "state     disconnected  cause hangup" in shown.stdout
    assert "<SpeakSentence> text='Hi there'" in shown.stdout
    assert "webhook answer: POST" in shown.stdout and "HTTP 200" in shown.stdout
    assert "never-printed" not in shown.stdout
    as_json = switchboard("calls", "show", call_id, "--json", "--data-dir", str(server.data_dir))
    assert '"kind": "webhook"' in as_json.stdout and "never-printed" not in as_json.stdout
    missing = switchboard("calls", "show", "c-nope", "--data-dir", str(server.data_dir))
    assert missing.returncode == 2 and "no call" in missing.stderr
