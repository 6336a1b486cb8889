"""Delivering outbox events: Bandwidth's attempts, the optional retry policy, then the mark.

The backoff between retry rounds is real time, like `callbackTimeout`: it waits for a real
receiver to come back (a restart takes the same second whatever the simulator's time_scale).
On a scaled `RealClock` it is not shrunk with call time — with time_scale 0.01 a 13-second
policy would otherwise be over in 0.13 s, before a restarting receiver listens again, and the
event would be marked failed. On any other clock (a test's `VirtualClock`) it is that clock's
time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from switchboard.activity import Activity
from switchboard.clock import Clock, RealClock
from switchboard.store.base import Fenced
from switchboard.webhooks.delivery import WebhookSender, deliver
from switchboard.webhooks.outbox import DELIVERED, FAILED, OutboxEntry, RetryPolicy
from switchboard.webhooks.request import DeliveryResult, Failure


class EventMarks(Protocol):
    async def finish_event(self, event_id: int, status: str, attempts: int) -> None: ...


class Dispatcher:
    def __init__(
        self,
        sender: WebhookSender,
        marks: EventMarks,
        clock: Clock,
        activity: Activity,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.sender = sender
        self.marks = marks
        self.clock = clock
        self.activity = activity
        self.policy = policy or RetryPolicy()
        # Many nodes: False once this node's lease may have run out (nodes/registry.py); an
        # event is then another node's to send, and sending it here could send it twice.
        self.may_send: Callable[[], bool] | None = None

    async def deliver(self, entry: OutboxEntry) -> DeliveryResult:
        if self.may_send is not None and not self.may_send():
            raise Fenced(f"this node's lease ran out: {entry.event_type} of {entry.call_id}")
        # Asynchronous events are retried once on a connection error (webhooks/about.mdx).
        retries = 1 if entry.asynchronous else 0
        result = await deliver(
            self.sender, entry.primary, entry.fallback, retry_connection_errors=retries
        )
        attempts = list(result.attempts)
        extra_round = 0
        while (
            not result.ok
            and entry.asynchronous
            and extra_round < self.policy.retries
            and result.final.failure is not Failure.BLOCKED  # policy, not a passing fault
        ):
            extra_round += 1
            # Waiting for a backoff is not IO in flight: a virtual-time test may move on.
            await self.activity.idle_during(self._wait(self.policy.delay(extra_round)))
            result = await deliver(
                self.sender, entry.primary, entry.fallback, retry_connection_errors=retries
            )
            attempts += result.attempts
        if entry.id is not None:
            await self.marks.finish_event(
                entry.id, DELIVERED if result.ok else FAILED, len(attempts)
            )
        return DeliveryResult(tuple(attempts))

    async def _wait(self, seconds: float) -> None:
        """Wait out a backoff: real seconds on a real clock, scaled or not (see above)."""
        clock = self.clock
        if isinstance(clock, RealClock):
            seconds /= clock.time_scale  # the call time that lasts `seconds` of real time
        await clock.sleep(seconds)
