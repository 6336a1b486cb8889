"""/metrics, /healthz, /readyz and the log lines a operator sees."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from switchboard.observability.logs import JsonFormatter
from switchboard.redact import redact_text, redact_url
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
    created = (
        'switchboard_api_requests_total{method="POST",'
        'route="/api/v2/accounts/{account_id}/calls",status="201"}'
    )
    assert metric(after, created) >= 1
    assert (
        metric(after, 'switchboard_webhook_deliveries_total{event_type="answer",outcome="ok"}') >= 1
    )
    assert (
        metric(after, 'switchboard_webhook_deliveries_total{event_type="disconnect",outcome="ok"}')
        >= 1
    )
    assert metric(after, 'switchboard_calls{state="answered"}') == 0
    assert "switchboard_api_request_seconds_bucket" in after
    assert "switchboard_call_queue_depth" in after
    assert metric(after, "switchboard_outbox_depth") == 0  # every event delivered
    api_lines = [r for r in caplog.records if getattr(r, "event", None) == "api-request"]
    create_line = next(r for r in api_lines if getattr(r, "status", None) == 201)
    assert create_line.call_id == call_id
    assert create_line.account_id == ACCOUNT_ID
    webhook_lines = [r for r in caplog.records if getattr(r, "event", None) == "webhook"]
    assert {r.event_type for r in webhook_lines} >= {"answer", "disconnect"}
    assert all(r.call_id == call_id for r in webhook_lines)


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


def test_credentials_in_urls_never_reach_logs() -> None:
    assert (
        redact_url("https://user:secret@example.com:8443/a?b=1") == "https://example.com:8443/a?b=1"
    )
    assert redact_url("http://example.com/a") == "http://example.com/a"


def test_not_ready_while_starting(tmp_path: Path) -> None:
    from switchboard.config import load_settings
    from switchboard.server import create_app, prepare_data_dir

    config = tmp_path / "c.toml"
    config.write_text('[server]\ndata_dir = "d"\n')
    settings = load_settings(config)
    prepare_data_dir(settings)
    app = create_app(settings)
    context = app.state.context  # type: ignore[attr-defined]
    assert context.extra.get("ready") is None


def test_bxml_passwords_and_url_credentials_are_masked_in_text() -> None:
    text = (
        '<PlayAudio username="u" password="p@ss">x</PlayAudio>'
        "<Gather fallbackPassword='fb' gatherUrl=\"https://a:b@h/g\"/> http://me:pw@host/x failed"
    )
    redacted = redact_text(text)
    assert "p@ss" not in redacted and "fb" not in redacted.replace("fallback", "")
    assert "a:b@" not in redacted and "me:pw@" not in redacted
    assert 'password="*****"' in redacted and "http://host/x failed" in redacted
