"""Who may read /metrics (issue 23): its labels carry account ids and its counters the traffic
of every account, so it is not open to anyone who can reach the API port.

`[metrics] token`: when set, a scrape must send `Authorization: Bearer <token>`. Without it,
the development profile serves /metrics to anyone (a laptop, a test); production serves it to
no one (404) until a token is set.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Any

MIN_TOKEN_LENGTH = 16


class MetricsConfigError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class MetricsAccess:
    token: str | None = field(default=None, repr=False)

    def refusal(self, authorization: str | None, production: bool) -> tuple[int, str] | None:
        """(status, description) when the scrape is refused, None when it may read."""
        if self.token is None:
            if production:
                return 404, "/metrics is off in the production profile until [metrics] token is set"
            return None
        expected = f"Bearer {self.token}".encode()
        given = (authorization or "").encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(given, expected):
            return 401, "/metrics needs Authorization: Bearer with the [metrics] token"
        return None


def parse_metrics_access(table: dict[str, Any]) -> MetricsAccess:
    unknown = sorted(set(table) - {"token"})
    if unknown:
        raise MetricsConfigError(f"metrics: unknown setting(s) {', '.join(unknown)}")
    token = table.get("token")
    if token is None:
        return MetricsAccess()
    if not isinstance(token, str) or len(token) < MIN_TOKEN_LENGTH or not token.isascii():
        raise MetricsConfigError(
            f"metrics.token must be an ASCII string of at least {MIN_TOKEN_LENGTH} characters"
        )
    if any(char.isspace() or not char.isprintable() for char in token):
        raise MetricsConfigError("metrics.token must not contain spaces or control characters")
    return MetricsAccess(token)
