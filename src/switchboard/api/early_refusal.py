"""createCall refused while this node is full, answered by the HTTP protocol itself.

Why: under overload (limits/overload.py) most createCall requests are refused, and each
refusal still went through uvicorn's request cycle (a task, an ASGI scope, the app's layers)
and waited a turn of the event loop for that task to run. Measured on one core
(docs/benchmarks.md, "Overload"), refusals were a tenth of the node's CPU at 3x its capacity,
CPU the admitted calls needed, and they answered no faster than the server's own hello-world.
Here the protocol asks, as soon as a request's head is in, whether it is a createCall this
node would refuse anyway; if so it discards the body and writes the 503 in the same turn.

The answer is the one the app would give, or none: only a POST to
/api/v2/accounts/{accountId}/calls, whose credentials are already known good for that account
(a success cached from an earlier request, or a signed token: no slow hash here, and a request
whose credentials are unknown or wrong goes on to the app, which answers 401/403 as always),
while the node refuses new calls for its capacity, loop lag or backlog, and its provisioning
is current. The 503 is the app's own check's (`ApiContext.check_accepting_calls`: draining,
the disk, the node, its lease, in that order), rendered as the app renders it, counted on
/metrics the same way (switchboard_api_requests, switchboard_overload_refusals_total) and
logged when the access log is on. Anything unusual (a percent-encoded path, `Expect:
100-continue`, a response still being written on the connection) goes to the app.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from switchboard.api.context import ApiContext
from switchboard.api.responses import error_response
from switchboard.errors import UnavailableError

# The route template the request observer reports for createCall (api/app.py's CALLS).
CREATE_ROUTE = "/api/v2/accounts/{account_id}/calls"
# Starlette's match for ".../calls" and ".../calls/", on the raw target (query cut off).
_PATH = re.compile(rb"^/api/v2/accounts/([^/%]+)/calls/?$")

# (method, path, route template, status, seconds, account id): the request observer's record.
Observe = Callable[[str, str, str, int, float, str | None], None]


class EarlyRefusal:
    def __init__(self, context: ApiContext, observe: Observe | None = None) -> None:
        self.context = context
        self.observe = observe

    def answer(
        self, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]]
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
        """The response (status, headers, body) to give at once, or None: the app answers."""
        if method != b"POST":
            return None
        engine = self.context.engine
        gate = None if engine is None else engine.overload
        if engine is None or gate is None or gate.check(engine.live_calls) is None:
            return None  # the usual case, and cheap: a node with room answers in the app
        path = target.split(b"?", 1)[0]
        match = _PATH.match(path)
        if match is None:
            return None
        context = self.context
        if not context.provisioning_is_current():
            return None
        authorization = next((value for name, value in headers if name == b"authorization"), None)
        if authorization is None:
            return None
        principal = context.auth.known_principal(authorization.decode("latin-1"))
        account_id = match.group(1).decode("latin-1")
        if principal is None or principal.account_id != account_id:
            return None
        started = time.perf_counter()
        # The app's own check, in its order (draining, the disk, this node, its lease), which
        # also counts the node's refusal: the same answer the app gives after authenticating.
        try:
            context.check_accepting_calls()
        except UnavailableError as refused:
            response = error_response(refused)
        else:
            return None  # room again since the gate was asked above
        if self.observe is not None:
            self.observe(
                "POST",
                path.decode("latin-1"),
                CREATE_ROUTE,
                response.status_code,
                time.perf_counter() - started,
                account_id,
            )
        return response.status_code, list(response.raw_headers), bytes(response.body)
