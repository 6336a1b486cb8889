"""A call resumed after a restart keeps the history it had: its timeline continues, never restarts.

Before the fix, the new run numbered its entries from 1 again and the store replaced the stored
entries with the same numbers, so the end of a resumed call overwrote its beginning.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx

from tests.integration.reliability.process import ServerProcess, free_port, wait_until
from tests.integration.reliability.test_crash_and_drain import (
    AUTH,
    LIVE_ACCOUNT,
    config,
    create,
    disconnects,
    state,
)
from tests.support.receiver import Receiver


def timeline(server: ServerProcess, call_id: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{server.base_url}/switchboard/v1/accounts/{LIVE_ACCOUNT}/calls/{call_id}/timeline",
        auth=AUTH,
    )
    assert response.status_code == 200, response.text
    return list(response.json()["timeline"])


def stored_timeline(data_dir: Path, call_id: str) -> list[dict[str, Any]]:
    """What the crashed server had written (entries still in its memory died with it)."""
    with sqlite3.connect(data_dir / "switchboard.db") as database:
        rows = database.execute(
            "SELECT sequence, at, kind, data FROM call_timeline WHERE call_id = ? "
            "ORDER BY sequence",
            (call_id,),
        ).fetchall()
    return [
        {"sequence": sequence, "at": at, "kind": kind, **json.loads(data)}
        for sequence, at, kind, data in rows
    ]


def stored_states(data_dir: Path, call_id: str) -> list[str]:
    return [e["state"] for e in stored_timeline(data_dir, call_id) if e["kind"] == "state"]


def test_a_resumed_call_keeps_its_timeline_and_continues_it(tmp_path: Path, app: Receiver) -> None:
    app.on("/answer", "<Response><Pause duration='3600'/></Response>")
    server = ServerProcess(config(tmp_path, queue_cps=100), free_port()).start()
    try:
        call_id = create(server, app, "+15555550200")
        wait_until(lambda: state(server, call_id)["state"] == "answered", 10, "the answer")
        # The API shows the live call; its timeline reaches the database a write batch later.
        # Killed once both states are stored (on a loaded machine the kill could come first,
        # and the test then checked nothing of what it is about: the resume).
        wait_until(
            lambda: stored_states(tmp_path / "data", call_id) == ["initiated", "answered"],
            10,
            "the answer on the stored timeline",
        )
        server.kill()
        before = stored_timeline(tmp_path / "data", call_id)
        restarted = ServerProcess(config(tmp_path, queue_cps=100), server.port).start()
        try:
            wait_until(lambda: disconnects(app, call_id), 20, "the resumed call's disconnect")
            wait_until(
                lambda: any(
                    e["kind"] == "webhook" and e.get("eventType") == "disconnect"
                    for e in timeline(restarted, call_id)
                ),
                10,
                "the disconnect delivery on the timeline",
            )
            after = timeline(restarted, call_id)
        finally:
            restarted.stop()
    finally:
        server.stop()
    # Everything written before the crash is still there, unchanged and first.
    assert after[: len(before)] == before
    assert [e["state"] for e in before if e["kind"] == "state"] == ["initiated", "answered"]
    # The new run's entries follow, numbered on from the last stored one.
    sequences = [e["sequence"] for e in after]
    assert sequences == list(range(1, len(after) + 1))
    resumed = after[len(before) :]
    assert any("its media was lost" in e.get("message", "") for e in resumed), resumed
    assert [e["state"] for e in resumed if e["kind"] == "state"] == ["disconnected"]
