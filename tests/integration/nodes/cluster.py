"""Several real `switchboard serve` processes on one PostgreSQL schema, for multi-node tests.

Each node has its own data directory and config (the same accounts), a short lease (2 s, a
heartbeat every 0.4 s) so that takeovers happen within a test's patience, and the scaled
simulator clock of the reliability tests. Waiting is for other processes, in real time,
bounded (tests/integration/reliability/process.py).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import httpx

from tests.integration.reliability.process import ServerProcess, free_port
from tests.support.receiver import Receiver

ACCOUNT = "9900181"
APPLICATION = "7fc9698a-b04a-468b-9e8f-91238c0d0181"
AUTH = ("nodes", "nodes-password-1")
NUMBER = "+15555550181"
INBOUND_NUMBER = "+15555550182"  # rings the application when a test gives an initiate URL
LEASE_SECONDS = 2.0


def node_config(
    directory: Path,
    url: str,
    schema: str,
    name: str,
    *,
    concurrent_calls: int = 100,
    calls_per_second: float = 100,
    queue_enabled: bool = True,
    initiate_url: str | None = None,
) -> Path:
    """`initiate_url`: INBOUND_NUMBER rings the application, whose initiate webhook it is."""
    inbound = (
        f'  numbers = ["{INBOUND_NUMBER}"]\n  call_initiated_callback_url = "{initiate_url}"\n'
        if initiate_url
        else ""
    )
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "switchboard.toml"
    path.write_text(
        f"""
[server]
data_dir = "data"
drain_seconds = 1.0

[store]
url = "{url}"
schema = "{schema}"

[node]
id = "{name}"
lease_seconds = {LEASE_SECONDS}
heartbeat_seconds = 0.4

[simulator]
time_scale = 0.1

[simulator.default]
answer_after = 1.0

[[accounts]]
id = "{ACCOUNT}"
numbers = ["{NUMBER}", "{INBOUND_NUMBER}"]
  [accounts.limits]
  calls_per_second = {calls_per_second}
  concurrent_calls = {concurrent_calls}
  queue = {str(queue_enabled).lower()}
  [[accounts.users]]
  username = "{AUTH[0]}"
  password = "{AUTH[1]}"
  [[accounts.applications]]
  id = "{APPLICATION}"
  name = "nodes"
{inbound}"""
    )
    return path


SHARED_KEYS = ("token-signing.key", "secrets.key")


def share_keys(directory: Path, keys: dict[str, bytes]) -> None:
    """Give a node the keys every node of a deployment shares (docs/operations.md)."""
    data = directory / "data"
    data.mkdir(parents=True, exist_ok=True)
    for name, key in keys.items():
        (data / name).write_bytes(key)
        (data / name).chmod(0o600)


def start_nodes(
    root: Path, url: str, schema: str, count: int, **limits: float | bool | str
) -> list[ServerProcess]:
    keys = {name: secrets.token_bytes(32) for name in SHARED_KEYS}
    nodes: list[ServerProcess] = []
    try:
        for index in range(count):
            name = f"node-{'abc'[index]}"
            config = node_config(root / name, url, schema, name, **limits)  # type: ignore[arg-type]
            share_keys(root / name, keys)
            nodes.append(ServerProcess(config, free_port()).start())
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return nodes


CALLS = f"/api/v2/accounts/{ACCOUNT}/calls"


def post_call(node: ServerProcess, app: Receiver, to: str, **fields: Any) -> httpx.Response:
    """createCall on `node`, answered by `app` (its /answer, then /disconnect); `fields` are
    more of the request's (e.g. priority)."""
    return httpx.post(
        f"{node.base_url}{CALLS}",
        auth=AUTH,
        json={
            "from": NUMBER,
            "to": to,
            "answerUrl": app.url("/answer"),
            "disconnectUrl": app.url("/disconnect"),
            "applicationId": APPLICATION,
            **fields,
        },
        timeout=10,
    )


def create(node: ServerProcess, app: Receiver, to: str, **fields: Any) -> str:
    """A call created on `node` (201), by its id."""
    response = post_call(node, app, to, **fields)
    assert response.status_code == 201, response.text
    return str(response.json()["callId"])


def call_state(node: ServerProcess, call_id: str) -> dict[str, Any]:
    response = httpx.get(f"{node.base_url}{CALLS}/{call_id}", auth=AUTH, timeout=10)
    assert response.status_code == 200, response.text
    return dict(response.json())


def disconnects(app: Receiver, call_id: str) -> list[dict[str, Any]]:
    return [event for event in app.events("disconnect") if event["callId"] == call_id]
