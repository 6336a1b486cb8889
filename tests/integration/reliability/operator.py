"""What an operator sees of a Switchboard process from outside it: /metrics, the outbox rows of
the database file (what `sqlite3 data/switchboard.db` shows), and `switchboard calls show`."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import orjson
from prometheus_client.parser import text_string_to_metric_families


def metric(base_url: str, name: str, **labels: str) -> float:
    """The one sample of /metrics named `name` with exactly these labels."""
    text = httpx.get(f"{base_url}/metrics", timeout=5).text
    found = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and sample.labels == labels
    ]
    assert len(found) == 1, f"{len(found)} samples of {name}{labels} in /metrics"
    return float(found[0])


def outbox(data_dir: Path, call_id: str) -> list[tuple[str, str]]:
    """(event type, status) of each event a call owed, oldest first, read from the file
    (read-only, so it works with or without a server running)."""
    connection = sqlite3.connect(f"file:{data_dir / 'switchboard.db'}?mode=ro", uri=True)
    try:
        rows = connection.execute(
            "SELECT event_type, status FROM outbox WHERE call_id = ? ORDER BY id", (call_id,)
        ).fetchall()
    finally:
        connection.close()
    return [(str(event_type), str(status)) for event_type, status in rows]


def calls_show(config: Path, call_id: str) -> dict[str, Any]:
    """`switchboard calls show CALL_ID --json`: a call as the CLI reads it from the data dir."""
    command = ["calls", "show", call_id, "--json", "--config", str(config)]
    shown = subprocess.run(
        [sys.executable, "-m", "switchboard.cli", *command],
        capture_output=True,
        timeout=30,
        check=True,
    )
    call: dict[str, Any] = orjson.loads(shown.stdout)["call"]
    return call
