"""/metrics on the SIP network: a real call to sipp moves the RTP metrics (sessions sending,
the send-lateness histogram of every packet, the late-packet and skipped-tick counters) and
they come back down when it ends; bench/sip_concurrency.py reads the same lines."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from bandwidth.api.calls_api import CallsApi
from bandwidth.models.bxml import Pause, Response, SpeakSentence

from tests.e2e.flow import create_call
from tests.support.receiver import Receiver
from tests.support.server import ACCOUNT_ID, RunningServer
from tests.support.sipp import start_sipp

_SAMPLE = re.compile(r"^([a-z_]+)(\{[^}]*\})? (\S+)$", re.MULTILINE)
# How long the test blocks the server's event loop in the middle of the call: longer than the
# media clock's catch-up (100 ms), so ticks are skipped and the frames still sent go out late.
STALL_SECONDS = 0.15


def rtp_metrics(client: httpx.Client) -> dict[str, float]:
    """Every switchboard_rtp_* sample of /metrics, by name and labels."""
    text = client.get("/metrics").text
    return {
        name + labels: float(value)
        for name, labels, value in _SAMPLE.findall(text)
        if name.startswith("switchboard_rtp_")
    }


def wait_for(
    client: httpx.Client, check: Callable[[dict[str, float]], bool], seconds: float = 20
) -> dict[str, float]:
    deadline = time.monotonic() + seconds
    while True:
        metrics = rtp_metrics(client)
        if check(metrics):
            return metrics
        assert time.monotonic() < deadline, f"metrics never got there: {metrics}"
        time.sleep(0.05)  # polling /metrics: it has no change notification


def test_a_call_moves_the_rtp_metrics(
    app: Receiver,
    calls_api: CallsApi,
    switchboard: httpx.Client,
    sip_server: RunningServer,
    tmp_path: Path,
) -> None:
    sessions = "switchboard_rtp_sessions"
    count = "switchboard_rtp_send_lateness_seconds_count"
    late = "switchboard_rtp_frames_late_total"
    lateness_sum = "switchboard_rtp_send_lateness_seconds_sum"
    skipped = "switchboard_rtp_ticks_skipped_total"
    inf = 'switchboard_rtp_send_lateness_seconds_bucket{le="+Inf"}'
    before = wait_for(switchboard, lambda m: m[sessions] == 0)
    assert {
        "switchboard_rtp_frames_late_total",
        "switchboard_rtp_send_lateness_max_seconds",
        "switchboard_rtp_ticks_skipped_total",
        'switchboard_rtp_send_lateness_seconds_bucket{le="0.005"}',
        "switchboard_rtp_send_lateness_seconds_sum",
    } <= set(before)

    sipp = start_sipp("uas_answer_expect_bye.xml", tmp_path)
    try:
        app.on("/answer", Response([SpeakSentence("Counting packets."), Pause(30)]).to_bxml())
        call_id = create_call(calls_api, app, sipp.uri())
        app.wait_events("answer")
        # One second of a call: one session, 50 packets more, every one in the histogram.
        during = wait_for(switchboard, lambda m: m[count] >= before[count] + 50)
        assert during[sessions] == 1
        assert during[inf] == during[count]

        # A stall of the server's loop (as a stalled process makes one): ticks missed past the
        # catch-up are skipped, and the frames of the catch-up, sent when the loop runs again,
        # are late by up to 100 ms. A longer stall (a loaded machine) only moves them more.
        sip_server.loop.call_soon_threadsafe(time.sleep, STALL_SECONDS)
        stalled = wait_for(switchboard, lambda m: m[late] > during[late])
        assert stalled[skipped] > during[skipped]
        # The session's oldest frame kept was due at least 75 ms (15 sub-ticks) before.
        assert stalled["switchboard_rtp_send_lateness_max_seconds"] > 0.07
        assert stalled[lateness_sum] > during[lateness_sum] + 0.07
        assert stalled[inf] == stalled[count] > during[count]

        switchboard.post(
            f"/api/v2/accounts/{ACCOUNT_ID}/calls/{call_id}", json={"state": "completed"}
        )
        app.wait_events("disconnect")
        after = wait_for(switchboard, lambda m: m[sessions] == 0)
        # Nothing is sent once the call has ended: the packet count stands still.
        assert rtp_metrics(switchboard)[count] == after[count] >= stalled[count]
        assert sipp.wait() == 0, sipp.errors()
    finally:
        sipp.stop()
