"""Settings that keep unauthenticated clients from holding the server (issue 23):
`[http]` (request-head limits, header-read timeout, connection cap) and `[auth]` (failed-attempt
throttling). Parsed here, beside their defaults, so config.py only wires them in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class HardeningConfigError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """What one connection may cost before its request reaches the application.

    The defaults fit every request the Voice API takes (its longest header is a bearer token
    of ~200 bytes) with wide margin, and stop a 100 MB header at 16 KiB."""

    max_request_line_bytes: int = 8 * 1024
    max_header_bytes: int = 16 * 1024  # the request line and every header, together
    # From a request's first byte (or a connection's opening) to the end of its headers: a
    # slow or incomplete request is closed after this. Idle keep-alive between complete
    # requests is [server] keep_alive_seconds, a different timer.
    header_timeout_seconds: float = 10.0
    max_connections: int = 4096
    # Of max_connections, the last ones are kept for requests that carry an Authorization
    # header: when the server is that full, an anonymous request there gets 503 and is closed.
    reserved_connections: int = 64


@dataclass(frozen=True, slots=True)
class ThrottleSettings:
    """Failed-attempt limits: within any window of `window_seconds`, at most `per_address`
    failures from one source address and `per_name` failures for one user name (or OAuth
    client id); then 429 with Retry-After until the window ends. At most `hash_concurrency`
    slow password hashes run at once. A refused attempt is answered after
    `throttled_delay_seconds` (at most its Retry-After): a client guessing in a loop on a few
    connections then makes a few attempts a second, not thousands, and its flood of 429s no
    longer takes the CPU other accounts' requests need."""

    per_address: int = 50
    per_name: int = 20
    window_seconds: float = 60.0
    hash_concurrency: int = 4
    throttled_delay_seconds: float = 1.0


def parse_http_limits(table: dict[str, Any]) -> HttpLimits:
    _known(
        table,
        "http",
        (
            "max_request_line_bytes",
            "max_header_bytes",
            "header_timeout_seconds",
            "max_connections",
            "reserved_connections",
        ),
    )
    defaults = HttpLimits()
    limits = HttpLimits(
        max_request_line_bytes=_int(
            table, "http", "max_request_line_bytes", defaults.max_request_line_bytes, 256
        ),
        max_header_bytes=_int(table, "http", "max_header_bytes", defaults.max_header_bytes, 1024),
        header_timeout_seconds=_seconds(
            table, "http", "header_timeout_seconds", defaults.header_timeout_seconds
        ),
        max_connections=_int(table, "http", "max_connections", defaults.max_connections, 1),
        reserved_connections=_int(
            table, "http", "reserved_connections", defaults.reserved_connections, 0
        ),
    )
    if limits.reserved_connections >= limits.max_connections:
        raise HardeningConfigError(
            "http.reserved_connections must be less than http.max_connections"
        )
    if limits.max_request_line_bytes > limits.max_header_bytes:
        raise HardeningConfigError(
            "http.max_request_line_bytes must not exceed http.max_header_bytes"
        )
    return limits


def parse_throttle(table: dict[str, Any]) -> ThrottleSettings:
    _known(
        table,
        "auth",
        (
            "failures_per_address",
            "failures_per_name",
            "failure_window_seconds",
            "hash_concurrency",
            "throttled_delay_seconds",
        ),
    )
    defaults = ThrottleSettings()
    return ThrottleSettings(
        per_address=_int(table, "auth", "failures_per_address", defaults.per_address, 1),
        per_name=_int(table, "auth", "failures_per_name", defaults.per_name, 1),
        window_seconds=_seconds(table, "auth", "failure_window_seconds", defaults.window_seconds),
        hash_concurrency=_int(table, "auth", "hash_concurrency", defaults.hash_concurrency, 1),
        throttled_delay_seconds=_non_negative_seconds(
            table, "auth", "throttled_delay_seconds", defaults.throttled_delay_seconds
        ),
    )


def _known(table: dict[str, Any], where: str, keys: tuple[str, ...]) -> None:
    unknown = set(table) - set(keys)
    if unknown:
        raise HardeningConfigError(
            f"[{where}]: unknown key(s) {', '.join(sorted(unknown))}; known keys are "
            f"{', '.join(keys)}"
        )


def _int(table: dict[str, Any], where: str, key: str, default: int, minimum: int) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise HardeningConfigError(
            f"{where}.{key} must be a whole number >= {minimum}, got {value!r}"
        )
    return value


def _seconds(table: dict[str, Any], where: str, key: str, default: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1e6:
        raise HardeningConfigError(f"{where}.{key} must be a number of seconds > 0, got {value!r}")
    return float(value)


def _non_negative_seconds(table: dict[str, Any], where: str, key: str, default: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 60:
        raise HardeningConfigError(
            f"{where}.{key} must be a number of seconds from 0 to 60, got {value!r}"
        )
    return float(value)
