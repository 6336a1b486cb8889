"""A WebhookSender that measures and logs every attempt of the sender it wraps."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit, urlunsplit

from switchboard.observability.metrics import Metrics
from switchboard.webhooks.delivery import WebhookSender
from switchboard.webhooks.request import WebhookAttempt, WebhookRequest

logger = logging.getLogger("switchboard.webhooks")


def redact_url(url: str) -> str:
    """The URL without any user:password@ part (credentials never reach a log)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


class ObservedSender:
    def __init__(self, inner: WebhookSender, metrics: Metrics) -> None:
        self.inner = inner
        self.metrics = metrics

    async def send(self, request: WebhookRequest) -> WebhookAttempt:
        attempt = await self.inner.send(request)
        event_type = str(request.payload.get("eventType", "unknown"))
        outcome = "ok" if attempt.ok else str(attempt.failure or "error")
        self.metrics.webhooks.labels(event_type, outcome).inc()
        self.metrics.webhook_seconds.labels(event_type).observe(attempt.latency_ms / 1000)
        logger.log(
            logging.INFO if attempt.ok else logging.WARNING,
            "webhook %s %s %s -> %s",
            event_type,
            request.method,
            redact_url(request.url),
            attempt.status if attempt.ok else attempt.error,
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
                "error": attempt.error,
            },
        )
        return attempt

    async def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close is not None:
            await close()
