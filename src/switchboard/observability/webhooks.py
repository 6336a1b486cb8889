"""A WebhookSender that measures and logs every attempt of the sender it wraps."""

from __future__ import annotations

import logging
from typing import Any

from switchboard.observability.metrics import Metrics
from switchboard.redact import redact_text, redact_url
from switchboard.webhooks.delivery import WebhookSender
from switchboard.webhooks.request import WebhookAttempt, WebhookRequest

logger = logging.getLogger("switchboard.webhooks")


class ObservedSender:
    def __init__(self, inner: WebhookSender, metrics: Metrics) -> None:
        self.inner = inner
        self.metrics = metrics
        # Metric children by label values, looked up once (labels() locks and builds a key).
        self._counters: dict[tuple[str, str], Any] = {}
        self._timers: dict[str, Any] = {}

    async def send(self, request: WebhookRequest) -> WebhookAttempt:
        attempt = await self.inner.send(request)
        event_type = str(request.payload.get("eventType", "unknown"))
        outcome = "ok" if attempt.ok else str(attempt.failure or "error")
        counter = self._counters.get((event_type, outcome))
        if counter is None:
            counter = self._counters[(event_type, outcome)] = self.metrics.webhooks.labels(
                event_type, outcome
            )
        counter.inc()
        timer = self._timers.get(event_type)
        if timer is None:
            timer = self._timers[event_type] = self.metrics.webhook_seconds.labels(event_type)
        timer.observe(attempt.latency_ms / 1000)
        level = logging.INFO if attempt.ok else logging.WARNING
        if not logger.isEnabledFor(level):
            return attempt  # the log is off for this level: don't redact and format for it
        logger.log(
            level,
            "webhook %s %s %s -> %s",
            event_type,
            request.method,
            redact_url(request.url),
            attempt.status if attempt.ok else redact_text(attempt.error or ""),
            extra={
                "event": "webhook",
                "event_type": event_type,
                "method": request.method,
                "url": redact_url(request.url),
                "status": attempt.status,
                "outcome": outcome,
                "latency_ms": round(attempt.latency_ms, 2),
                "account_id": request.payload.get("accountId"),
                "call_id": request.payload.get("callId"),
                "error": redact_text(attempt.error) if attempt.error else None,
            },
        )
        return attempt

    async def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close is not None:
            await close()
