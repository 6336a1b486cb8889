"""What a client's bytes can do to the server's own output (issue 23): a request path with %0a
cannot forge a line of the text log, and the trailing-slash redirect never points at the host
the client's Host header named."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from switchboard.observability.logs import TextFormatter, configure_logging, escape_controls
from tests.support.server import CONFIG, start_virtual_server

FORGED = "2026-12-06 00:00:00,000 INFO switchboard.access POST /api/v2/accounts/1/calls 201"


@pytest.fixture
def text_log(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """The server's text log, as `switchboard serve` configures it, into a buffer."""
    root = logging.getLogger("switchboard")
    saved = (root.handlers[:], root.level, root.propagate)
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging("info", "text")
    try:
        yield stream
    finally:
        root.handlers[:], root.level, root.propagate = saved[0], saved[1], saved[2]


def test_a_newline_in_a_request_path_cannot_forge_an_access_log_line(
    tmp_path: Path, text_log: io.StringIO
) -> None:
    running = start_virtual_server(tmp_path)
    try:
        path = "/healthz%0a" + FORGED.replace(" ", "%20") + "%0d%1b[2J"
        response = httpx.get(running.base_url + path)
        assert response.status_code == 404
    finally:
        running.stop()
    lines = text_log.getvalue().splitlines()
    assert not any(line.startswith(FORGED[:20]) for line in lines), lines
    (access,) = [line for line in lines if "switchboard.access" in line and "healthz" in line]
    assert "/healthz\\x0a2026-12-06" in access
    assert "\\x0d\\x1b[2J 404" in access


def test_escape_controls_leaves_one_line_of_printable_text() -> None:
    controls = "".join(chr(c) for c in (*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029))
    escaped = escape_controls("a" + controls + "é€/ b")
    assert escaped.isprintable()
    assert escaped.startswith("a\\x00\\x01") and escaped.endswith("\\u2029é€/ b")
    assert escape_controls("GET /calls 201 3.1 ms") == "GET /calls 201 3.1 ms"


def test_a_traceback_keeps_its_lines_after_the_escaped_message() -> None:
    formatter = TextFormatter("%(levelname)s %(message)s")
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "switchboard", logging.ERROR, __file__, 1, "on %s", ("/x\ny",), sys.exc_info()
        )
    text = formatter.format(record)
    first, *rest = text.splitlines()
    assert first == "ERROR on /x\\x0ay"
    assert rest[0] == "Traceback (most recent call last):"


@pytest.mark.parametrize(
    ("public_url", "expected"),
    [
        (None, "/healthz"),
        ("https://voice.example.com/voice", "https://voice.example.com/voice/healthz"),
    ],
)
def test_the_trailing_slash_redirect_ignores_the_host_header(
    tmp_path: Path, public_url: str | None, expected: str
) -> None:
    config = CONFIG
    if public_url is not None:
        config = CONFIG.replace("[server]\n", f'[server]\npublic_url = "{public_url}"\n', 1)
    running = start_virtual_server(tmp_path, config)
    try:
        response = httpx.get(running.base_url + "/healthz/", headers={"Host": "attacker.example"})
        assert response.status_code == 307
        assert response.headers["location"] == expected
        query = httpx.get(
            running.base_url + "/readyz/?a=1", headers={"Host": "attacker.example:8080"}
        )
        assert query.headers["location"] == expected.replace("healthz", "readyz") + "?a=1"
    finally:
        running.stop()
