"""/metrics, /healthz, /readyz and the log lines a operator sees."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
import uvicorn

from switchboard.config import load_settings
from switchboard.observability.logs import JsonFormatter, configure_logging
from switchboard.redact import redact_text, redact_url
from switchboard.server import create_app, prepare_data_dir
from tests.support.receiver import Receiver
from tests.support.server import (
    ACCOUNT_ID,
    APPLICATION_ID,
    CONFIG,
    FROM_NUMBER,
    PASSWORD,
    USERNAME,
    VirtualTimeServer,
    start_virtual_server,
)


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VirtualTimeServer]:
    server = start_virtual_server(tmp_path_factory.mktemp("observed"))
    yield server
    server.stop()


def metric(text: str, prefix: str) -> float:
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no metric line starting with {prefix}")


def moved(before: str, after: str, name: str) -> float:
    """How much a counter grew between two scrapes (a labelled child not yet created reads
    0): the module's server is shared, so only a difference says what this test did."""
    start = metric(before, name) if name in before else 0.0
    return metric(after, name) - start


def test_health_and_readiness(observed: VirtualTimeServer) -> None:
    assert httpx.get(f"{observed.base_url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{observed.base_url}/readyz").json() == {"status": "ready"}


def test_metrics_count_requests_calls_and_webhooks(
    observed: VirtualTimeServer, caplog: pytest.LogCaptureFixture
) -> None:
    app = Receiver().start()
    try:
        app.on("/answer", "<Response><Pause duration='10'/></Response>")
        caplog.set_level(logging.INFO, logger="switchboard")
        before = httpx.get(f"{observed.base_url}/metrics").text
        response = httpx.post(
            f"{observed.api_url}/accounts/{ACCOUNT_ID}/calls",
            auth=(USERNAME, PASSWORD),
            json={
                "from": FROM_NUMBER,
                "to": "+15555551313",
                "answerUrl": app.url("/answer"),
                "disconnectUrl": app.url("/disconnect"),
                "applicationId": APPLICATION_ID,
            },
        )
        call_id = response.json()["callId"]
        observed.advance(3)
        during = httpx.get(f"{observed.base_url}/metrics").text
        assert metric(during, 'switchboard_calls{state="answered"}') == 1
        observed.advance(20)
        after = httpx.get(f"{observed.base_url}/metrics").text
    finally:
        app.stop()
    calls = 'method="POST",route="/api/v2/accounts/{account_id}/calls"'
    assert moved(before, after, f'switchboard_api_requests_total{{{calls},status="201"}}') == 1
    assert moved(before, after, f"switchboard_api_request_seconds_count{{{calls}}}") == 1
    for event_type in ("answer", "disconnect"):
        delivered = (
            f'switchboard_webhook_deliveries_total{{event_type="{event_type}",outcome="ok"}}'
        )
        assert moved(before, after, delivered) == 1, event_type
    assert metric(after, 'switchboard_calls{state="answered"}') == 0
    assert metric(after, "switchboard_outbox_depth") == 0  # every event delivered
    api_lines = [r for r in caplog.records if getattr(r, "event", None) == "api-request"]
    create_line = next(r for r in api_lines if getattr(r, "status", None) == 201)
    assert create_line.call_id == call_id
    assert create_line.account_id == ACCOUNT_ID
    webhook_lines = [r for r in caplog.records if getattr(r, "event", None) == "webhook"]
    assert {r.event_type for r in webhook_lines} >= {"answer", "disconnect"}
    assert all(r.call_id == call_id for r in webhook_lines)


def test_queue_depth_counts_the_calls_waiting(tmp_path: Path) -> None:
    """switchboard_call_queue_depth follows an account's queue: 1 call a second, 3 created at
    once, 2 wait; one leaves a second later, the other a second after that."""
    server = start_virtual_server(
        tmp_path, CONFIG + "\n[limits]\ncalls_per_second = 1\nqueue = true\n"
    )
    app = Receiver().start()
    try:
        app.on("/answer", "<Response><Pause duration='60'/></Response>")
        depth = f'switchboard_call_queue_depth{{account="{ACCOUNT_ID}"}}'
        queued = 'switchboard_calls{state="queued"}'

        def scrape() -> tuple[float, float]:
            text = httpx.get(f"{server.base_url}/metrics").text
            return metric(text, depth), metric(text, queued)

        for _ in range(3):
            response = httpx.post(
                f"{server.api_url}/accounts/{ACCOUNT_ID}/calls",
                auth=(USERNAME, PASSWORD),
                json={
                    "from": FROM_NUMBER,
                    "to": "+15555551313",
                    "answerUrl": app.url("/answer"),
                    "applicationId": APPLICATION_ID,
                },
            )
            assert response.status_code == 201, response.text
        assert scrape() == (2, 2)
        server.advance(1)
        assert scrape() == (1, 1)
        server.advance(1)
        assert scrape() == (0, 0)
    finally:
        app.stop()
        server.stop()


def test_rtp_metrics_only_on_the_sip_network(observed: VirtualTimeServer) -> None:
    # The simulated network sends no RTP: no media clock, no switchboard_rtp_* lines
    # (tests/e2e_sip/test_rtp_metrics.py checks them on a SIP server).
    assert "switchboard_rtp_" not in httpx.get(f"{observed.base_url}/metrics").text


def test_json_log_lines_carry_the_context() -> None:
    record = logging.LogRecord("switchboard.webhooks", logging.INFO, __file__, 1, "sent", (), None)
    record.call_id = "c-1"
    record.account_id = "9900001"
    record.status = 204
    line = orjson.loads(JsonFormatter().format(record))
    assert line["message"] == "sent" and line["level"] == "info"
    assert (line["call_id"], line["account_id"], line["status"]) == ("c-1", "9900001", 204)


def test_redact_url_drops_only_the_credentials() -> None:
    assert (
        redact_url("https://user:secret@example.com:8443/a?b=1") == "https://example.com:8443/a?b=1"
    )
    assert redact_url("http://example.com/a") == "http://example.com/a"


@pytest.fixture
def server_log(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """The "switchboard" loggers as `switchboard serve` sets them up (configure_logging, to
    stderr), captured; the test's own settings back afterwards."""
    root = logging.getLogger("switchboard")
    saved = (list(root.handlers), root.level, root.propagate)
    try:
        yield capsys
    finally:
        root.handlers[:], root.level, root.propagate = saved[0], saved[1], saved[2]


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_credentials_in_urls_never_reach_logs(
    observed: VirtualTimeServer, server_log: pytest.CaptureFixture[str], log_format: str
) -> None:
    """A call whose webhook URLs carry user:password@, one answered and one refused (its error
    names the URL): the log lines of both are written, without the credentials."""
    configure_logging("info", log_format)  # after the capture began: it writes to the capture
    app = Receiver().start()
    # Bound, never listening: a connection to it is refused, on this machine alone.
    refusing = socket.socket()
    refusing.bind(("127.0.0.1", 0))
    try:
        app.on("/answer", "<Response><Hangup/></Response>")
        app_port = urlsplit(app.url("/")).port
        refused_port = refusing.getsockname()[1]
        response = httpx.post(
            f"{observed.api_url}/accounts/{ACCOUNT_ID}/calls",
            auth=(USERNAME, PASSWORD),
            json={
                "from": FROM_NUMBER,
                "to": "+15555551313",
                "answerUrl": f"http://hook-user:answer-url-secret@127.0.0.1:{app_port}/answer",
                "disconnectUrl": (
                    f"http://hook-user:disconnect-url-secret@127.0.0.1:{refused_port}/gone"
                ),
                "applicationId": APPLICATION_ID,
            },
        )
        assert response.status_code == 201, response.text
        call_id = response.json()["callId"]
        observed.advance(120)
    finally:
        refusing.close()
        app.stop()
    log = server_log.readouterr().err
    answered = f"http://127.0.0.1:{app_port}/answer"
    refused = f"http://127.0.0.1:{refused_port}/gone"
    if log_format == "json":
        records = [orjson.loads(line) for line in log.splitlines()]
        webhooks = [r for r in records if r.get("call_id") == call_id and "event_type" in r]
        assert {(r["event_type"], r["url"]) for r in webhooks} >= {
            ("answer", answered),
            ("disconnect", refused),
        }
        assert any(refused in r.get("error", "") for r in webhooks)
    else:
        assert f" INFO switchboard.webhooks webhook answer POST {answered} -> 200\n" in log
        assert (
            f" WARNING switchboard.webhooks webhook disconnect POST {refused} -> {refused}: "
            "connection refused\n" in log
        )
    for secret in ("answer-url-secret", "disconnect-url-secret", "hook-user"):
        assert secret not in log


class Lifespan:
    """The app's startup and shutdown, driven by hand through the ASGI lifespan protocol."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.messages: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        self.sent: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self.task = asyncio.create_task(app(scope, self.messages.get, self.sent.put))

    async def step(self, message: str) -> dict[str, Any]:
        await self.messages.put({"type": message})
        return await self.sent.get()


def test_not_ready_while_starting(tmp_path: Path) -> None:
    """/readyz answers 503 until the startup (store opened, provisioning loaded, engine
    running) has finished, 200 after it, and 503 again once it has shut down; /healthz answers
    all along. uvicorn opens its socket only after the startup, so here the app is served with
    the lifespan off and its startup is run by hand, on the server's loop, between requests."""
    config_file = tmp_path / "switchboard.toml"
    config_file.write_text(CONFIG)
    settings = load_settings(config_file)
    prepare_data_dir(settings)
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
    )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),))
    thread.start()
    try:
        for _ in range(1000):
            if server.started or not thread.is_alive():
                break
            threading.Event().wait(0.01)
        assert server.started
        base = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"

        def on_loop(coroutine: Any) -> Any:
            return asyncio.run_coroutine_threadsafe(coroutine, loop).result(10)

        starting = httpx.get(f"{base}/readyz")
        assert starting.status_code == 503
        assert starting.json() == {
            "type": "system-overloaded",
            "description": "Switchboard is starting",
            "id": None,
        }
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}

        async def begin() -> Lifespan:
            return Lifespan(app)

        lifespan = on_loop(begin())
        assert on_loop(lifespan.step("lifespan.startup")) == {"type": "lifespan.startup.complete"}
        ready = httpx.get(f"{base}/readyz")
        assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
        assert on_loop(lifespan.step("lifespan.shutdown")) == {"type": "lifespan.shutdown.complete"}
        assert httpx.get(f"{base}/readyz").status_code == 503
    finally:
        server.should_exit = True
        thread.join(10)
        loop.close()


def test_bxml_passwords_and_url_credentials_are_masked_in_text() -> None:
    text = (
        '<PlayAudio username="u" password="p@ss">x</PlayAudio>'
        "<Gather fallbackPassword='fb' gatherUrl=\"https://a:b@h/g\"/> http://me:pw@host/x failed"
    )
    redacted = redact_text(text)
    assert "p@ss" not in redacted and "fb" not in redacted.replace("fallback", "")
    assert "a:b@" not in redacted and "me:pw@" not in redacted
    assert 'password="*****"' in redacted and "http://host/x failed" in redacted
