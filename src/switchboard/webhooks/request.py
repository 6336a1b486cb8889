"""Webhook delivery values: the request to send, each attempt's outcome, and a whole delivery.

Plain frozen data with no IO, so the engine, the store and the timeline can hold, compare and
record them; `switchboard.webhooks.delivery` is the shell that turns a request into attempts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

Method = Literal["GET", "POST"]

# Bandwidth: "We use a 15s request timeout by default when trying to deliver all webhooks."
DEFAULT_CALLBACK_TIMEOUT = 15.0


class Failure(StrEnum):
    """Why an attempt failed. Only CONNECTION is retried to the same URL (see `deliver`)."""

    INVALID_URL = "invalid-url"  # not an absolute http(s) URL; nothing was sent
    BLOCKED = "blocked"  # the url_guard or the DestinationPolicy refused it; nothing was sent
    CONNECTION = "connection"  # refused, DNS, unreachable, reset or closed before any answer
    TLS = "tls"  # handshake or certificate failure
    TIMEOUT = "timeout"  # callbackTimeout ran out after connecting (or waiting for a slot)
    BAD_RESPONSE = "bad-response"  # not valid HTTP, or the body was cut off
    REDIRECT = "redirect"  # a 3xx answer; redirects are not followed
    HTTP_STATUS = "http-status"  # any other non-2xx status
    BODY_TOO_LARGE = "body-too-large"  # a 2xx whose body is over the sender's cap


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """One webhook to send to one URL: the event payload, the method, credentials and timeout."""

    url: str
    method: Method
    payload: dict[str, object]
    username: str | None = None
    # Kept out of repr so a logged or printed request never shows the secret.
    password: str | None = field(default=None, repr=False)
    timeout: float = DEFAULT_CALLBACK_TIMEOUT

    def __post_init__(self) -> None:
        if self.method not in ("GET", "POST"):
            raise ValueError(f"webhook method must be GET or POST, not {self.method!r}")
        if not self.timeout > 0:
            raise ValueError(f"webhook timeout must be positive, not {self.timeout!r}")


@dataclass(frozen=True, slots=True)
class WebhookAttempt:
    """What happened when one request was sent once: status, timing, body, or why it failed.

    `error` is a sentence for the developer ("https://x/answer answered HTTP 500"); `failure`
    is the same reason as a value for code. `body` holds at most the sender's body cap.
    """

    url: str
    method: Method
    status: int | None
    latency_ms: float
    content_type: str | None = None
    body: bytes = b""
    error: str | None = None
    failure: Failure | None = None

    @property
    def ok(self) -> bool:
        """True when the receiver answered 2xx and nothing else went wrong."""
        return self.error is None and self.status is not None and 200 <= self.status < 300

    @property
    def is_connection_error(self) -> bool:
        """True when no HTTP answer came because the connection failed (the retryable kind)."""
        return self.failure is Failure.CONNECTION


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """Every attempt of one delivery (primary, its retries, then fallback), in order."""

    attempts: tuple[WebhookAttempt, ...]

    def __post_init__(self) -> None:
        if not self.attempts:
            raise ValueError("a delivery has at least one attempt")

    @property
    def final(self) -> WebhookAttempt:
        """The last attempt: the answer the call goes on with, or the error it ends with."""
        return self.attempts[-1]

    @property
    def ok(self) -> bool:
        return self.final.ok
