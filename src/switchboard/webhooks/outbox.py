"""The outbox: every event a call owes is stored before it is sent, and marked once delivered.

    record (durable, with the call's state change) ─► deliver ─► mark delivered / failed

After a crash, events still `pending` are found in the store: asynchronous ones (disconnect,
dtmf) are delivered again, so a receiver that was down, or a Switchboard that died mid-send,
loses nothing (at least once; exactly once to a receiver that answered 2xx before the crash,
unless the crash fell between its 2xx and the mark). Events that expected BXML (answer, gather,
redirect) belonged to a call that the restart ended: they are marked `abandoned`.

Bandwidth retries asynchronous events once on a connection error and stops there; that is the
default here too. `RetryPolicy` adds retries with exponential backoff (off by default) so that
no disconnect is dropped while a receiver restarts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from switchboard.webhooks.request import WebhookRequest

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
ABANDONED = "abandoned"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Extra delivery rounds for asynchronous events after Bandwidth's own attempts fail.

    The backoff is in real seconds, like callbackTimeout: the simulator's time_scale does not
    shrink it (see webhooks/dispatch.py)."""

    retries: int = 0
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60.0

    def delay(self, round_number: int) -> float:
        """Wait before extra round `round_number` (1-based): backoff doubling up to the cap."""
        return float(min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (round_number - 1)))


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    call_id: str
    event_type: str
    primary: WebhookRequest
    fallback: WebhookRequest | None
    asynchronous: bool  # retried on connection errors, delivered again after a restart
    id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "primary": _request_json(self.primary),
            "fallback": _request_json(self.fallback) if self.fallback else None,
            "asynchronous": self.asynchronous,
        }

    @classmethod
    def from_json(
        cls, entry_id: int, call_id: str, event_type: str, data: dict[str, Any]
    ) -> OutboxEntry:
        fallback = data.get("fallback")
        return cls(
            call_id=call_id,
            event_type=event_type,
            primary=_request(data["primary"]),
            fallback=_request(fallback) if fallback else None,
            asynchronous=bool(data["asynchronous"]),
            id=entry_id,
        )


def _request_json(request: WebhookRequest) -> dict[str, Any]:
    # The credentials are stored (the call's own record holds them too): they are needed to
    # deliver again after a restart. They never leave the data dir.
    return {
        "url": request.url,
        "method": request.method,
        "payload": request.payload,
        "username": request.username,
        "password": request.password,
        "timeout": request.timeout,
    }


def _request(data: dict[str, Any]) -> WebhookRequest:
    return WebhookRequest(
        url=data["url"],
        method=data["method"],
        payload=data["payload"],
        username=data.get("username"),
        password=data.get("password"),
        timeout=float(data["timeout"]),
    )
