"""`[node]`: who this node is among many, and how long its lease lasts (docs/operations.md)."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any


class NodeConfigError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class NodeSettings:
    """`[node]` (docs/operations.md)."""

    node_id: str | None = None  # None: "<hostname>:<port>", stable across restarts
    address: str | None = None  # how other nodes reach this one; None: the listen address
    lease_seconds: float = 10.0
    heartbeat_seconds: float = 2.0

    def resolved_id(self, port: int) -> str:
        return self.node_id or f"{socket.gethostname()}:{port}"


def parse_node_settings(table: dict[str, Any]) -> NodeSettings:
    unknown = set(table) - {"id", "address", "lease_seconds", "heartbeat_seconds"}
    if unknown:
        raise NodeConfigError(
            f"[node]: unknown key(s) {', '.join(sorted(unknown))}; known keys are id, address, "
            "lease_seconds, heartbeat_seconds"
        )
    node_id = table.get("id")
    address = table.get("address")
    for key, value in (("id", node_id), ("address", address)):
        if value is not None and (not isinstance(value, str) or not value):
            raise NodeConfigError(f"[node] {key} must be a non-empty string")
    if isinstance(address, str) and not address.startswith(("http://", "https://")):
        raise NodeConfigError(
            f"[node] address must be the URL other nodes reach this one at, e.g. "
            f"http://10.0.0.2:8080, got {address!r}"
        )
    lease = _seconds(table, "lease_seconds", 10.0)
    heartbeat = _seconds(table, "heartbeat_seconds", 2.0)
    if heartbeat * 2 > lease:
        raise NodeConfigError(
            f"[node] heartbeat_seconds ({heartbeat:g}) must be at most half of lease_seconds "
            f"({lease:g}), or one late heartbeat loses the lease"
        )
    return NodeSettings(
        node_id=node_id,
        address=address.rstrip("/") if address else None,
        lease_seconds=lease,
        heartbeat_seconds=heartbeat,
    )


def _seconds(table: dict[str, Any], key: str, default: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise NodeConfigError(f"[node] {key} must be a positive number of seconds, got {value!r}")
    return float(value)
