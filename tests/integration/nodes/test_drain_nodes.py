"""SIGTERM drains a node among many (issue 18): real nodes on one PostgreSQL schema.

Node A runs one answered call and holds one queued (the account may start one call per 5 s:
the shared bucket keeps the database's clock, real time). SIGTERM: A says it is not ready, gives
its live call `drain_seconds` (1 s) and ends it with `error`, exits 0, and leaves its lease
at exit; node B adopts the queued call at its next heartbeat and places it. Every call that got
its 201 ends with exactly one disconnect.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from psycopg import sql

from tests.integration.nodes.cluster import AUTH, CALLS, call_state, create, start_nodes
from tests.integration.reliability.process import ServerProcess, wait_until
from tests.support.postgres import connect
from tests.support.receiver import Receiver

pytestmark = pytest.mark.slow
# The drain: 1 s for the live call, then its disconnect's delivery; the rest is room to spare.
EXIT_SECONDS = 20.0
# A's leave ends its lease at once: B's next heartbeat (0.4 s) adopts, then places the call.
ADOPTION_SECONDS = 20.0


def disconnects(app: Receiver, call_id: str) -> list[dict[str, Any]]:
    return [event for event in app.events("disconnect") if event["callId"] == call_id]


def answered(app: Receiver, call_id: str) -> bool:
    return any(event["callId"] == call_id for event in app.events("answer"))


def draining(node: ServerProcess) -> bool:
    response = httpx.get(f"{node.base_url}/readyz", timeout=5)
    if response.status_code == 200:
        return False  # the signal is not handled yet
    assert response.status_code == 503, response.text
    assert response.json() == {
        "type": "system-overloaded",
        "description": "Switchboard is draining",
        "id": None,
    }
    return True


def database_row(url: str, schema: str, query: str, *parameters: object) -> tuple[Any, ...]:
    with connect(url) as connection:
        connection.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        row = connection.execute(query, parameters).fetchone()
    assert row is not None, query
    return tuple(row)


def test_a_drained_node_ends_its_live_calls_and_leaves_its_queued_ones_to_another(
    tmp_path: Path, postgres_url: str, schema: str, app: Receiver
) -> None:
    node_a, node_b = start_nodes(tmp_path, postgres_url, schema, 2, calls_per_second=0.2)
    try:
        live, queued = (create(node_a, app, f"+1555559{index:04d}") for index in range(2))
        wait_until(lambda: answered(app, live), 30, "the first call answered", server=node_a)
        assert call_state(node_a, queued)["state"] == "queued"

        node_a.terminate()
        # Polled from the signal on: the drain holds A up for its 1 s grace at least.
        wait_until(lambda: draining(node_a), 10, "node A's /readyz saying draining")
        assert node_a.wait(EXIT_SECONDS) == 0, node_a.stderr_text()
        # It left rather than letting its lease run out (that would take 2 s more): its
        # heartbeats went on while it drained, so only the leave makes it dead this soon.
        lease = "SELECT state, lease_until <= now() FROM nodes WHERE node_id = %s"
        assert database_row(postgres_url, schema, lease, "node-a") == ("dead", True)

        (ended,) = disconnects(app, live)  # delivered before A exited
        assert ended["cause"] == "error"
        assert ended["errorMessage"] == (
            "Switchboard shut down before the call ended (it waited 1 s for calls to finish)"
        )
        # A placed nothing more while draining (and the rate allowed nothing for 5 s).
        assert not answered(app, queued) and disconnects(app, queued) == []

        wait_until(
            lambda: answered(app, queued),
            ADOPTION_SECONDS,
            "the queued call adopted, placed and answered by node B",
            server=node_b,
        )
        assert call_state(node_b, queued)["state"] == "answered"
        owner = "SELECT owner_node FROM calls WHERE call_id = %s"
        assert database_row(postgres_url, schema, owner, queued) == ("node-b",)
        assert disconnects(app, queued) == []
        state = call_state(node_b, live)
        assert (state["state"], state["disconnectCause"]) == ("disconnected", "error")

        hangup = httpx.post(
            f"{node_b.base_url}{CALLS}/{queued}",
            auth=AUTH,
            json={"state": "completed"},
            timeout=10,
        )
        assert hangup.status_code == 200, hangup.text
        wait_until(lambda: disconnects(app, queued), 30, "the hangup's disconnect", server=node_b)
        state = call_state(node_b, queued)
        assert (state["state"], state["disconnectCause"]) == ("disconnected", "hangup")
        assert [event["cause"] for event in disconnects(app, queued)] == ["hangup"]
        assert [event["cause"] for event in disconnects(app, live)] == ["error"]
        assert sorted(event["callId"] for event in app.events("disconnect")) == sorted(
            [live, queued]
        )
    finally:
        node_a.stop()
        node_b.stop()
