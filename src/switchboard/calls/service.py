"""Creating calls: the account-level checks, the durable insert, and handing off to the engine."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from switchboard.calls.create_request import CreateCallRequest, parse_create_call
from switchboard.calls.ids import new_call_id
from switchboard.calls.model import QUEUED, Call
from switchboard.calls.state import created_state
from switchboard.errors import RateLimitError, SharedRateLimited, ValidationError
from switchboard.provisioning.models import Snapshot
from switchboard.store.base import Store

CallListener = Callable[[Call], Awaitable[None]]


class CallGate(Protocol):
    """Limits checked before a call is stored (the engine's per-account limiter)."""

    def admit(self, account_id: str, call_id: str, priority: int) -> bool:
        """Reserve the call's place or raise (429); True when it may be placed at once, False
        when it waits in its account's queue."""
        ...

    def release(self, call: Call) -> None: ...

    def requeue(self, call: Call) -> bool:
        """Limits shared by several nodes refused to place the call now: let it wait in its
        account's queue instead (False: the queue is off or full)."""
        ...


class CallService:
    def __init__(
        self, store: Store, now: Callable[[], datetime], *, enforce_https_credentials: bool
    ) -> None:
        self.store = store
        self.now = now
        self.enforce_https_credentials = enforce_https_credentials
        self.listeners: list[CallListener] = []
        self.gate: CallGate | None = None

    async def create(
        self, account_id: str, body: dict[str, Any], snapshot: Snapshot, base_url: str
    ) -> Call:
        request = parse_create_call(body)
        self._check_account(account_id, request, snapshot)
        if self.enforce_https_credentials:
            _check_https_with_credentials(request)
        call_id = new_call_id()
        moment = self.now()
        # O(1), in process: 429 before any IO. A call placed at once is stored initiated, so
        # that its runner need not save it again.
        placed = self.gate is not None and self.gate.admit(account_id, call_id, request.priority)
        state, start_time = created_state(placed, moment)
        call = Call(
            call_id=call_id,
            account_id=account_id,
            request=request,
            call_url=f"{base_url}/api/v2/accounts/{account_id}/calls/{call_id}",
            enqueued_time=moment,
            state=state,
            tag=request.tag or None,
            start_time=start_time,
            last_update=moment,
        )
        try:
            await self.store.insert_call(call)  # durable before anyone hears of it
        except SharedRateLimited as refused:
            call = await self._queue_instead(call, refused)
        except BaseException:
            if self.gate is not None:
                self.gate.release(call)
            raise
        for listener in self.listeners:
            await listener(call)
        return call

    async def _queue_instead(self, call: Call, refused: SharedRateLimited) -> Call:
        """Over the account's rate across nodes: queued, as one node queues a call over it."""
        if self.gate is None or not self.gate.requeue(call):
            raise RateLimitError(str(refused), refused.retry_after_seconds) from None
        queued = call.evolve(state=QUEUED, start_time=None)
        try:
            await self.store.insert_call(queued)
        except BaseException:
            self.gate.release(queued)
            raise
        return queued

    @staticmethod
    def _check_account(account_id: str, request: CreateCallRequest, snapshot: Snapshot) -> None:
        if snapshot.account_application(account_id, request.application_id) is None:
            raise ValidationError(
                f"Could not create call: Application id {request.application_id} not found"
            )
        if not snapshot.account_owns_number(account_id, request.from_):
            raise ValidationError(
                f"Could not create call: from number {request.from_} is not a phone number "
                f"of account {account_id}"
            )


def _check_https_with_credentials(request: CreateCallRequest) -> None:
    """Bandwidth's rule, enforced in the production profile: credentials only over https."""
    pairs = (  # with the user:password@ each URL carried (split off in parse_create_call)
        ("answerUrl", request.answer_url, any(request.credentials_for("answerUrl"))),
        ("disconnectUrl", request.disconnect_url, any(request.credentials_for("disconnectUrl"))),
        (
            "answerFallbackUrl",
            request.answer_fallback_url,
            any(request.credentials_for("answerFallbackUrl")),
        ),
    )
    for field, url, credentials in pairs:
        if url and credentials and urlsplit(url).scheme.lower() != "https":
            raise ValidationError(
                f"Invalid {field}: must use https when a username and password are given"
            )
