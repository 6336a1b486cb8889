"""The suite's own guards, shown to fire.

- Nothing leaves 127.0.0.1 (tests/support/loopback_guard.py): a test server refuses every
  destination outside loopback, webhook, audio and SIP alike, records it, and the test fails.
- Skips fail the run under CI=true (tests/support/skip_rule.py); elsewhere they skip, saying why.

The outside hosts here are `.invalid` names (RFC 6761: never resolvable) and 192.0.2.1
(TEST-NET-1, documentation only), so even a broken guard would reach nobody.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from bandwidth import ApiClient, Configuration
from bandwidth.api.calls_api import CallsApi
from bandwidth.models.bxml import PlayAudio, Response

from switchboard.sip import SipSettings, SipUserAgent
from switchboard.webhooks.guard import LOOPBACK_ONLY
from tests.e2e.flow import create_call, one_disconnect
from tests.integration.sip.recorder import Recorder, offer
from tests.support.loopback_guard import OutsideAttempts
from tests.support.receiver import Receiver
from tests.support.server import PASSWORD, USERNAME, VirtualTimeServer, start_virtual_server

REPO = Path(__file__).resolve().parents[2]
ANSWERS = "+15555550108"  # not configured: answers after 2 s
REFUSED = f"is not a loopback address, and {LOOPBACK_ONLY} is set"


@pytest.fixture(scope="module")
def vserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VirtualTimeServer]:
    running = start_virtual_server(tmp_path_factory.mktemp("guard"))
    yield running
    running.stop()


@pytest.fixture
def calls_api(vserver: VirtualTimeServer) -> Iterator[CallsApi]:
    configuration = Configuration(
        username=USERNAME, password=PASSWORD, host=vserver.api_url, ignore_operation_servers=True
    )
    with ApiClient(configuration) as client:
        yield CallsApi(client)


def test_webhooks_to_outside_hosts_are_refused_and_recorded(
    vserver: VirtualTimeServer,
    app: Receiver,
    calls_api: CallsApi,
    outside_attempts: OutsideAttempts,
) -> None:
    create_call(
        calls_api,
        app,
        ANSWERS,
        answer="http://answer.switchboard-guard.invalid/answer",
        answer_fallback_url="http://192.0.2.1/fallback",
    )
    vserver.advance(30)

    # The name is refused before it is resolved, the address before a socket is made for it.
    assert outside_attempts.take() == [
        "resolve answer.switchboard-guard.invalid",
        "connect 192.0.2.1",
    ]
    disconnect = one_disconnect(app)
    assert disconnect["cause"] == "callback-error"
    assert disconnect["errorMessage"] == (
        "The answer callback failed: http://answer.switchboard-guard.invalid/answer: could not "
        "resolve host 'answer.switchboard-guard.invalid'; "
        f"http://192.0.2.1/fallback: connection failed (192.0.2.1 {REFUSED})"
    )


def test_audio_from_an_outside_host_is_refused_and_recorded(
    vserver: VirtualTimeServer,
    app: Receiver,
    calls_api: CallsApi,
    outside_attempts: OutsideAttempts,
) -> None:
    audio_url = "http://audio.switchboard-guard.invalid/prompt.wav"
    app.on("/answer", Response([PlayAudio(audio_url)]).to_bxml())
    create_call(calls_api, app, ANSWERS)
    vserver.advance(30)

    assert outside_attempts.take() == ["resolve audio.switchboard-guard.invalid"]
    disconnect = one_disconnect(app)
    assert disconnect["cause"] == "application-error"
    assert disconnect["errorMessage"].startswith(f"Cannot play {audio_url}: ")


@pytest.mark.virtual_time
async def test_a_sip_destination_outside_is_refused_and_recorded(
    outside_attempts: OutsideAttempts,
) -> None:
    ua = await SipUserAgent.start(SipSettings(local_port=0))
    try:
        recorder = Recorder()
        ua.invite(
            "sip:bob@sip.switchboard-guard.invalid",
            from_user="+15555551212",
            display_name=None,
            sdp_offer=offer(),
            listener=recorder,
        )
        status = await recorder.result()
    finally:
        await ua.close()

    assert outside_attempts.take() == ["resolve sip.switchboard-guard.invalid"]
    assert status == (
        "failed",
        503,
        f"Service Unavailable (sip.switchboard-guard.invalid: sip.switchboard-guard.invalid "
        f"{REFUSED})",
    )


def run_pytest(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """A separate pytest run, in a child process, as a developer or CI would start one."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("CI", "PYTEST_ADDOPTS", "PYTEST_CURRENT_TEST", LOOPBACK_ONLY)
    }
    environment["PYTHONPATH"] = str(REPO)
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=90,  # under the suite's per-test timeout (120 s), so this one reports first
    )


def test_the_guard_fails_the_test_that_reached_out_and_a_run_that_did_after_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "test_reaching_out.py").write_text(
        textwrap.dedent(
            """
            import asyncio

            import pytest

            from switchboard.webhooks.delivery import HttpWebhookSender
            from switchboard.webhooks.request import WebhookRequest


            def send(url):
                async def go():
                    async with HttpWebhookSender() as sender:
                        request = WebhookRequest(url=url, method="POST", payload={}, timeout=5)
                        return await sender.send(request)

                return asyncio.run(go())


            @pytest.fixture(scope="session")
            def late():
                yield
                send("http://late.switchboard-guard.invalid/")


            def test_reaches_out(late):
                assert send("http://during.switchboard-guard.invalid/").is_connection_error


            def test_stays_home():
                pass
            """
        )
    )

    result = run_pytest(
        "-p", "tests.support.loopback_guard", "--rootdir", str(tmp_path), cwd=tmp_path
    )

    output = result.stdout + result.stderr
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, output
    assert "ERROR at teardown of test_reaches_out" in output
    assert "resolve during.switchboard-guard.invalid" in output
    assert "ERROR at teardown of test_stays_home" not in output
    assert "after the last test, a test server tried to reach outside 127.0.0.1" in output
    assert "resolve late.switchboard-guard.invalid" in output
    assert "2 passed, 1 error" in output


def test_a_missing_openapi_spec_skips_saying_why_and_fails_the_run_under_ci(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "bandwidth-openapi.yml"
    spec = {"SWITCHBOARD_BANDWIDTH_SPEC": str(missing)}
    reason = f"Bandwidth's OpenAPI spec is not at {missing}"

    # With one test that passes, as in a whole run (the module alone collects no test: exit 5).
    paths = (
        "tests/contract",
        "tests/unit/webhooks/test_guard.py::test_the_denial_names_the_url_address_and_setting",
    )
    newcomer = run_pytest("-rs", *paths, cwd=REPO, env=spec)
    on_ci = run_pytest("-rs", *paths, cwd=REPO, env={**spec, "CI": "true"})

    output = newcomer.stdout + newcomer.stderr
    assert newcomer.returncode == pytest.ExitCode.OK, output
    # Both contract modules (the calls' and the recordings', which loads the spec through the
    # first) need the spec: both skip, saying why.
    assert "SKIPPED [2] tests/contract/test_bandwidth_openapi.py" in output
    assert reason in output
    assert "1 passed, 2 skipped" in output
    output = on_ci.stdout + on_ci.stderr
    assert on_ci.returncode == pytest.ExitCode.TESTS_FAILED, output
    assert "CI=true: 2 skipped test(s) fail the run" in output
    assert f"tests/contract/test_bandwidth_openapi.py: {reason}" in output
