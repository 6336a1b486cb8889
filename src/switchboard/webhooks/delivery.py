"""Webhook delivery: the `WebhookSender` seam, its aiohttp implementation, and fallback/retry.

The rules, from Bandwidth's docs (webhooks/about, the BXML verbs' *FallbackUrl attributes):

- Webhooks are POSTs with a JSON body by default; with GET "the properties are passed as query
  parameters". Basic auth is sent when a username is configured.
- Each request is bounded by the call's `callbackTimeout` ("We use a 15s request timeout by
  default"); here the bound covers connecting, sending, and reading the whole answer.
- A `*FallbackUrl` "will be used to retry the webhook delivery in case `*Url` fails to
  respond", with its own method and `fallbackUsername`/`fallbackPassword`.
- "Asynchronous callbacks are retried once to their original URL in the event of a connection
  exception." Callers pass `retry_connection_errors=1` for asynchronous events (disconnect, ...).

Where the docs are silent, Switchboard chooses:

- "Fails to respond" means any attempt that is not ok: connection failure, TLS failure, timeout,
  a non-2xx status, an oversized body, a malformed answer. A developer who set a fallback wants
  it used whenever the primary cannot produce an answer the call can go on with.
- Redirects are not followed: a 3xx is a failed attempt whose error says so. Following them
  would let one URL send the event (and its credentials) somewhere the application never named.
- Every connection is checked against the `DestinationPolicy` (webhooks/guard.py): after DNS,
  and for literal IP hosts. A refused destination is a failed attempt (`Failure.BLOCKED`,
  nothing sent, not retried) whose error names the address and the setting that refused it.
- The answer is read up to the body cap (64 KB, Bandwidth's BXML limit) and no further: a
  bigger body, declared, streamed or compressed, fails the attempt; its connection is dropped
  rather than drained.
- A "connection exception" is a failure before any HTTP answer: DNS, refused, unreachable,
  reset, closed without answering, or timing out while still connecting. TLS failures and
  timeouts after connecting are not retried (the first won't heal in milliseconds; the second
  could double the wait, and the receiver may already be acting on the event). The retry goes
  out at once, and applies to the fallback URL too, each to its own URL.
- A GET carries nested values (e.g. machineDetectionResult) as compact JSON, booleans as
  `true`/`false`, and leaves out None; the URL's own query parameters are kept.
- Any 2xx is ok, whatever the event: the docs show 200 for synchronous events and 201, 200 or
  204 for asynchronous ones; what an empty answer means for the call is the engine's business.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import time
import traceback
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from types import SimpleNamespace, TracebackType
from typing import Protocol, Self

import aiohttp
import orjson
from yarl import URL

from switchboard.webhooks.account_share import DEFAULT_SHARE, AccountShares
from switchboard.webhooks.guard import DestinationPolicy, GuardedConnector, denial_in
from switchboard.webhooks.request import (
    DeliveryResult,
    Failure,
    WebhookAttempt,
    WebhookRequest,
)

USER_AGENT = "Switchboard/0.1"
DEFAULT_CONNECTION_LIMIT = 1000
DEFAULT_MAX_BODY_BYTES = 65536
# Below the 5 s keep-alive of Node's http server (a very common receiver), so a pooled
# connection is dropped by us before the receiver closes it under a request in flight.
DEFAULT_KEEPALIVE_TIMEOUT = 4.0

# Returns None to allow a URL, or the error sentence to record instead of connecting.
UrlGuard = Callable[[str], str | None]


class WebhookSender(Protocol):
    """Sends one webhook request once. Never raises for network problems: they become errors."""

    async def send(self, request: WebhookRequest) -> WebhookAttempt: ...


async def deliver(
    sender: WebhookSender,
    primary: WebhookRequest,
    fallback: WebhookRequest | None,
    *,
    retry_connection_errors: int = 0,
) -> DeliveryResult:
    """Send to the primary URL, then to the fallback if the primary failed; all attempts in order.

    Each URL gets up to `retry_connection_errors` extra attempts after connection errors only.
    """
    if retry_connection_errors < 0:
        raise ValueError("retry_connection_errors must be 0 or more")
    attempts: list[WebhookAttempt] = []
    for request in (primary, fallback):
        if request is None:
            continue
        for _ in range(1 + retry_connection_errors):
            attempt = await sender.send(request)
            attempts.append(attempt)
            if not attempt.is_connection_error:
                break
        # A body over the cap is an answer, not a failure to respond: no fallback for it.
        if attempts[-1].ok or attempts[-1].failure is Failure.BODY_TOO_LARGE:
            break
    return DeliveryResult(tuple(attempts))


class HttpWebhookSender:
    """A `WebhookSender` over one pooled aiohttp session, shared by every call on this node.

    The session is created on first use, inside the running loop; `close()` it on shutdown.
    `destinations` says which addresses may be connected to (by default, all of them).
    """

    def __init__(
        self,
        *,
        limit: int = DEFAULT_CONNECTION_LIMIT,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        url_guard: UrlGuard | None = None,
        keepalive_timeout: float = DEFAULT_KEEPALIVE_TIMEOUT,
        destinations: DestinationPolicy | None = None,
        per_account: int = DEFAULT_SHARE,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1 connection")
        if max_body_bytes < 0:
            raise ValueError("max_body_bytes must be 0 or more")
        self._limit = limit
        self._max_body_bytes = max_body_bytes
        self._url_guard = url_guard
        self._keepalive_timeout = keepalive_timeout
        self._destinations = destinations or DestinationPolicy()
        # Each account's share of `limit` (account_share.py), keyed by the payload's accountId;
        # a share of the whole pool is no share: then only the pool limits.
        self.shares = AccountShares(per_account) if per_account < limit else None
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close pooled connections. The sender cannot be used afterwards."""
        self._closed = True
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def send(self, request: WebhookRequest) -> WebhookAttempt:
        """Send the request once; every network failure comes back as the attempt's error."""
        if self._closed:
            raise RuntimeError("this HttpWebhookSender is closed")
        started = time.perf_counter()

        def outcome(
            status: int | None = None,
            content_type: str | None = None,
            body: bytes = b"",
            failure: Failure | None = None,
            error: str | None = None,
        ) -> WebhookAttempt:
            return WebhookAttempt(
                url=request.url,
                method=request.method,
                status=status,
                latency_ms=(time.perf_counter() - started) * 1000,
                content_type=content_type,
                body=body,
                error=error,
                failure=failure,
            )

        url = _http_url(request.url)
        if url is None:
            return outcome(failure=Failure.INVALID_URL, error=_not_http(request.url))
        if self._url_guard is not None:
            denial = self._url_guard(request.url)
            if denial is not None:
                return outcome(failure=Failure.BLOCKED, error=denial)

        session = self._open_session()
        headers = {}
        if request.username is not None:
            # Built here rather than with aiohttp.BasicAuth, which rejects a ':' in the username
            # and refuses to combine with credentials in the URL; the configured ones win.
            url = url.with_user(None)
            pair = f"{request.username}:{request.password or ''}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        data: bytes | None = None
        if request.method == "POST":
            headers["Content-Type"] = "application/json"
            data = orjson.dumps(request.payload)
        else:
            url = url.extend_query(_query_params(request.payload))

        progress = _Progress()
        response: aiohttp.ClientResponse | None = None
        try:
            async with asyncio.timeout(request.timeout):
                account = request.payload.get("accountId") if self.shares else None
                progress.account_waiting = True
                async with _place(self.shares, account):
                    progress.account_waiting = False
                    response = await session.request(
                        request.method,
                        url,
                        data=data,
                        headers=headers,
                        allow_redirects=False,
                        trace_request_ctx=progress,
                    )
                    progress.status = response.status
                    progress.content_type = response.headers.get("Content-Type")
                    # Read up to the cap even when Content-Length is over it: the start of
                    # the body goes on the timeline, and the cap bounds what it costs.
                    body, complete = await self._read_capped(response)
        except TimeoutError as exc:
            failure, error = self._timeout_reason(request, progress)
            _forget_tracebacks(exc)
            return outcome(progress.status, progress.content_type, failure=failure, error=error)
        except (aiohttp.ClientError, OSError) as exc:
            failure, error = _classify(request.url, exc, progress)
            _forget_tracebacks(exc)
            return outcome(progress.status, progress.content_type, failure=failure, error=error)
        finally:
            if response is not None:
                if response.content.is_eof():
                    response.release()  # back to the pool
                else:
                    response.close()  # drop the connection rather than drain what is left

        status = response.status
        content_type = progress.content_type
        if 300 <= status < 400:
            return outcome(
                status=status,
                content_type=content_type,
                body=body,
                failure=Failure.REDIRECT,
                error=f"{request.url} answered a redirect (HTTP {status}) — webhook URLs must "
                "answer directly",
            )
        if not 200 <= status < 300:
            return outcome(
                status=status,
                content_type=content_type,
                body=body,
                failure=Failure.HTTP_STATUS,
                error=f"{request.url} answered HTTP {status}",
            )
        if not complete:
            cap = self._max_body_bytes
            # A compressed body's Content-Length is what came over the wire, not what it holds.
            declared = response.content_length
            if declared is not None and (declared <= cap or "Content-Encoding" in response.headers):
                declared = None
            return outcome(
                status=status,
                content_type=content_type,
                body=body,
                failure=Failure.BODY_TOO_LARGE,
                error=f"{request.url} answered HTTP {status} with a body over {cap} bytes; "
                "Switchboard stopped reading it there"
                if declared is None
                else f"{request.url} answered HTTP {status} with a body of {declared} bytes "
                f"(its Content-Length), over the {cap}-byte limit; Switchboard read no further",
            )
        return outcome(status=status, content_type=content_type, body=body)

    async def _read_capped(self, response: aiohttp.ClientResponse) -> tuple[bytes, bool]:
        """Read at most the cap plus one byte; return (body up to the cap, whether it fit)."""
        cap = self._max_body_bytes
        chunks: list[bytes] = []
        size = 0
        while size <= cap:
            chunk = await response.content.read(cap + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        body = b"".join(chunks)
        return body[:cap], size <= cap

    def _timeout_reason(self, request: WebhookRequest, progress: _Progress) -> tuple[Failure, str]:
        url, within = request.url, f"within {request.timeout} s (callbackTimeout)"
        if progress.account_waiting and self.shares is not None:
            return Failure.TIMEOUT, (
                f"{url}: no free outgoing connection {within}; all {self.shares.share} of "
                f"account {request.payload.get('accountId')}'s share of Switchboard's webhook "
                "connections are busy ([webhooks] connections_per_account)"
            )
        if progress.queued:
            return Failure.TIMEOUT, (
                f"{url}: no free outgoing connection {within}; all {self._limit} of "
                "Switchboard's webhook connections are busy"
            )
        if not progress.connected:
            return Failure.CONNECTION, f"{url}: could not connect {within}"
        if progress.status is not None:
            return (
                Failure.TIMEOUT,
                f"{url} answered HTTP {progress.status} but did not finish {within}",
            )
        return Failure.TIMEOUT, f"{url}: no response {within}"

    def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            tracing = aiohttp.TraceConfig()
            tracing.on_connection_queued_start.append(_on_queued)
            tracing.on_connection_queued_end.append(_on_dequeued)
            tracing.on_connection_create_end.append(_on_connected)
            tracing.on_connection_reuseconn.append(_on_connected)
            self._session = aiohttp.ClientSession(
                connector=GuardedConnector(
                    self._destinations,
                    limit=self._limit,
                    keepalive_timeout=self._keepalive_timeout,
                ),
                headers={"User-Agent": USER_AGENT},
                # Every timeout is our asyncio.timeout around the whole exchange.
                timeout=aiohttp.ClientTimeout(),
                # One session serves every account: no receiver's cookies may reach another.
                cookie_jar=aiohttp.DummyCookieJar(),
                trace_configs=[tracing],
            )
        return self._session


def _place(shares: AccountShares | None, account: object) -> AbstractAsyncContextManager[None]:
    if shares is None or not isinstance(account, str):
        return nullcontext()
    return shares.place(account)


@dataclass
class _Progress:
    """How far one request got, filled in by tracing hooks, to word a timeout truthfully."""

    queued: bool = False
    account_waiting: bool = False  # for one of the account's places (account_share.py)
    connected: bool = False
    status: int | None = None
    content_type: str | None = None


def _progress(context: SimpleNamespace) -> _Progress | None:
    progress = getattr(context, "trace_request_ctx", None)
    return progress if isinstance(progress, _Progress) else None


async def _on_queued(session: aiohttp.ClientSession, context: SimpleNamespace, _: object) -> None:
    if (progress := _progress(context)) is not None:
        progress.queued = True


async def _on_dequeued(session: aiohttp.ClientSession, context: SimpleNamespace, _: object) -> None:
    if (progress := _progress(context)) is not None:
        progress.queued = False


async def _on_connected(
    session: aiohttp.ClientSession, context: SimpleNamespace, _: object
) -> None:
    if (progress := _progress(context)) is not None:
        progress.connected = True


def _classify(url: str, exc: BaseException, progress: _Progress) -> tuple[Failure, str]:
    """Word a client failure for the developer."""
    denial = denial_in(exc)
    if denial is not None:
        return Failure.BLOCKED, f"{url}: {denial}"
    if progress.status is not None:
        # The answer had started: whatever broke, the receiver did answer, so no retry.
        return Failure.BAD_RESPONSE, (
            f"{url} answered HTTP {progress.status} but its body was cut off or malformed ({exc})"
        )
    # Most specific first: aiohttp's TLS and DNS errors are connector errors too.
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return Failure.TLS, f"{url}: TLS certificate rejected ({exc.certificate_error})"
    if isinstance(exc, aiohttp.ClientSSLError):
        return Failure.TLS, f"{url}: TLS handshake failed ({exc.os_error})"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return Failure.CONNECTION, f"{url}: could not resolve host {exc.host!r}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return Failure.CONNECTION, f"{url}: {_describe_os_error(exc.os_error)}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return Failure.CONNECTION, f"{url}: closed the connection without answering"
    if isinstance(exc, aiohttp.ClientResponseError):
        # With raise_for_status off, aiohttp raises this only for answers it cannot parse.
        return (
            Failure.BAD_RESPONSE,
            f"{url} answered something that is not valid HTTP ({exc.message})",
        )
    if isinstance(exc, aiohttp.InvalidURL):
        return Failure.INVALID_URL, _not_http(url)
    if isinstance(exc, aiohttp.ClientConnectionError | OSError):
        return Failure.CONNECTION, f"{url}: {_describe_os_error(exc)}"
    return Failure.BAD_RESPONSE, f"{url}: request failed ({type(exc).__name__}: {exc})"


def _not_http(url: str) -> str:
    return f"{url!r} is not an absolute http:// or https:// URL"


def _http_url(raw: str) -> URL | None:
    try:
        url = URL(raw)
    except (ValueError, TypeError):
        return None
    if url.scheme not in ("http", "https") or not url.raw_host:
        return None
    return url


def _query_params(payload: dict[str, object]) -> list[tuple[str, str]]:
    return [(key, _query_value(value)) for key, value in payload.items() if value is not None]


def _query_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list | tuple):
        return orjson.dumps(value).decode()
    return str(value)


_OS_ERRORS = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset by the receiver",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.ETIMEDOUT: "connection timed out",
}


def _describe_os_error(exc: BaseException) -> str:
    # Happy eyeballs folds one failure per address into an OSError keeping the shared errno.
    if isinstance(exc, OSError) and exc.errno in _OS_ERRORS:
        return _OS_ERRORS[exc.errno]
    if isinstance(exc, OSError) and exc.strerror:
        return f"connection failed ({exc.strerror.lower()})"
    return f"connection failed ({exc or type(exc).__name__})"


def _forget_tracebacks(error: BaseException) -> None:
    """Drop the tracebacks of a failure already turned into a message, and of its causes.

    aiohttp's frames keep the exception they raise in a local (the last connection error),
    and the exception's traceback keeps those frames: a reference cycle holding the request,
    its payload and this frame, which only a collection frees, and the server freezes what
    survives one until its next full collection (switchboard/collector.py)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if current.__traceback__ is not None:
            traceback.clear_frames(current.__traceback__)
            current.__traceback__ = None
        current = current.__cause__ or current.__context__
