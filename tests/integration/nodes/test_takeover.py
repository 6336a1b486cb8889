"""A node that dies loses nothing that was promised (issue 18): real nodes on one PostgreSQL.

Two `switchboard serve` processes share a schema; one is SIGKILLed or SIGSTOPped with calls
live or queued. Every call that got its 201 ends, with exactly one disconnect, delivered by
the survivor within the lease (2 s) plus delivery time; a node that wakes after losing its
lease writes and sends nothing for the calls it lost.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest

from tests.integration.nodes.cluster import call_state, create, disconnects, start_nodes
from tests.integration.reliability.process import wait_until
from tests.support.receiver import Receiver

pytestmark = pytest.mark.slow
TAKEOVER_SECONDS = 20.0  # lease (2 s) + heartbeat + a disconnect's delivery, with room to spare


def answered(app: Receiver, call_ids: list[str]) -> bool:
    seen = {event["callId"] for event in app.events("answer")}
    return set(call_ids) <= seen


def test_a_killed_nodes_live_calls_end_once_by_a_survivor(
    tmp_path: Path, postgres_url: str, schema: str, app: Receiver
) -> None:
    node_a, node_b = start_nodes(tmp_path, postgres_url, schema, 2)
    try:
        on_a = [create(node_a, app, f"+1555555{index:04d}") for index in range(5)]
        on_b = [create(node_b, app, f"+1555556{index:04d}") for index in range(2)]
        wait_until(lambda: answered(app, on_a + on_b), 30, "every call answered")

        node_a.kill()
        for call_id in on_a:
            wait_until(
                lambda call_id=call_id: disconnects(app, call_id),
                TAKEOVER_SECONDS,
                f"the disconnect of {call_id}, sent by the survivor",
                server=node_b,
            )
        for call_id in on_a:
            (event,) = disconnects(app, call_id)
            assert event["cause"] == "error"
            assert event["errorMessage"] == (
                "The Switchboard node running the call stopped while the call was answered; "
                "its media was lost"
            )
            state = call_state(node_b, call_id)
            assert state["state"] == "disconnected" and state["disconnectCause"] == "error"
        # The survivor's own calls live on, untouched.
        for call_id in on_b:
            assert call_state(node_b, call_id)["state"] == "answered"
            assert disconnects(app, call_id) == []
        # And an operator sees the takeover on the survivor's /metrics.
        scraped = httpx.get(f"{node_b.base_url}/metrics", timeout=10).text
        assert "switchboard_node_calls_adopted_total 5.0" in scraped.splitlines()
        assert "switchboard_node_lease_held 1.0" in scraped.splitlines()
    finally:
        node_a.stop()
        node_b.stop()


def test_a_killed_nodes_queued_calls_are_placed_by_a_survivor(
    tmp_path: Path, postgres_url: str, schema: str, app: Receiver
) -> None:
    # One call per 5 s (the shared bucket keeps the database's clock): the second waits queued.
    node_a, node_b = start_nodes(tmp_path, postgres_url, schema, 2, calls_per_second=0.2)
    try:
        first, queued = (create(node_a, app, f"+1555557{index:04d}") for index in range(2))
        assert call_state(node_a, queued)["state"] == "queued"
        node_a.kill()
        # Node B adopts it within the lease and places it when the account's rate allows.
        wait_until(
            lambda: answered(app, [queued]),
            TAKEOVER_SECONDS,
            "the queued call placed and answered by the survivor",
            server=node_b,
        )
        assert disconnects(app, queued) == []  # it lives on, on node B
        assert call_state(node_b, queued)["state"] == "answered"
        wait_until(lambda: disconnects(app, first), TAKEOVER_SECONDS, "the first call's end")
        assert [event["cause"] for event in disconnects(app, first)] == ["error"]
    finally:
        node_a.stop()
        node_b.stop()


def test_a_node_that_wakes_after_losing_its_lease_leaves_the_new_owner_alone(
    tmp_path: Path, postgres_url: str, schema: str, app: Receiver
) -> None:
    node_a, node_b = start_nodes(tmp_path, postgres_url, schema, 2)
    assert node_a.process is not None
    try:
        call_id = create(node_a, app, "+15555580000")
        wait_until(lambda: answered(app, [call_id]), 30, "the call answered")
        os.kill(node_a.process.pid, signal.SIGSTOP)
        try:
            wait_until(
                lambda: disconnects(app, call_id),
                TAKEOVER_SECONDS,
                "the disconnect sent by the node that took the call over",
                server=node_b,
            )
            ended = call_state(node_b, call_id)
        finally:
            os.kill(node_a.process.pid, signal.SIGCONT)
        # Node A wakes, finds its lease gone, drops the call and joins again: it serves as
        # before, and what it knew of the call never overwrites the new owner's ending.
        wait_until(
            lambda: httpx.get(f"{node_a.base_url}/readyz", timeout=5).status_code == 200,
            15,
            "node A ready again",
            server=node_a,
        )
        fresh = create(node_a, app, "+15555580001")
        wait_until(lambda: answered(app, [fresh]), 30, "a new call on node A answered")
        assert len(disconnects(app, call_id)) == 1
        assert call_state(node_a, call_id) == ended
        assert ended["disconnectCause"] == "error"
    finally:
        node_a.stop()
        node_b.stop()
