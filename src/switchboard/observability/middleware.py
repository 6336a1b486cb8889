"""ASGI middleware: a log line and metrics for every API request."""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from switchboard.observability.metrics import Metrics

logger = logging.getLogger("switchboard.access")


class RequestObserver:
    def __init__(self, app: ASGIApp, metrics: Metrics, starlette: Any) -> None:
        self.app = app
        self.metrics = metrics
        self._starlette = starlette
        # prometheus_client's labels() takes a lock and builds a key on every call; the few
        # (method, route, status) combinations a server sees are looked up once.
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._timers: dict[tuple[str, str], Any] = {}

    @property
    def state(self) -> Any:
        return self._starlette.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        location: str | None = None

        async def observing_send(message: Message) -> None:
            nonlocal status, location
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", ()):
                    if name == b"location":
                        location = value.decode("latin-1")
            await send(message)

        try:
            await self.app(scope, receive, observing_send)
        finally:
            route = scope.get("route")
            params = scope.get("path_params", {})
            call_id = params.get("call_id") or (location.rsplit("/", 1)[-1] if location else None)
            self.record(
                scope["method"],
                scope["path"],
                getattr(route, "path", None) or "unmatched",
                status,
                time.perf_counter() - started,
                params.get("account_id"),
                call_id,
            )

    def record(
        self,
        method: str,
        path: str,
        template: str,
        status: int,
        elapsed: float,
        account_id: str | None,
        call_id: str | None = None,
    ) -> None:
        """Count one request and log it (when the access log is on). Also called for requests
        the HTTP protocol answered itself (api/early_refusal.py)."""
        counter = self._counters.get((method, template, status))
        if counter is None:
            counter = self.metrics.requests.labels(method, template, str(status))
            self._counters[(method, template, status)] = counter
        counter.inc()
        timer = self._timers.get((method, template))
        if timer is None:
            timer = self.metrics.request_seconds.labels(method, template)
            self._timers[(method, template)] = timer
        timer.observe(elapsed)
        if logger.isEnabledFor(logging.INFO):  # the access log is on: build its line
            logger.info(
                "%s %s %d %.1f ms",
                method,
                path,
                status,
                elapsed * 1000,
                extra={
                    "event": "api-request",
                    "method": method,
                    "path": path,
                    "route": template,
                    "status": status,
                    "latency_ms": round(elapsed * 1000, 2),
                    "account_id": account_id,
                    "call_id": call_id,
                },
            )
