"""The engine's live feed: every timeline entry a call adds, handed at once to whoever listens
(the web console's event stream, issue 14).

In process and bounded: a subscriber that falls more than `limit` entries behind loses the
backlog and is told so (`lagged`), so a stalled browser tab costs a fixed amount of memory and
never slows a call. Publishing is synchronous and cheap when nobody listens.
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from collections.abc import Callable

from switchboard.calls.timeline import TimelineEntry

SUBSCRIBER_LIMIT = 5_000


class Subscription:
    """One listener's queue of (callId, entry) for one account."""

    def __init__(self, feed: CallFeed, account_id: str, limit: int) -> None:
        self.account_id = account_id
        self.lagged = False  # entries were dropped: the listener must reload what it shows
        self._feed = feed
        self._limit = limit
        self._items: deque[tuple[str, TimelineEntry]] = deque()
        self._wakeup = asyncio.Event()

    def put(self, call_id: str, entry: TimelineEntry) -> None:
        if len(self._items) >= self._limit:
            self._items.clear()
            self.lagged = True
        self._items.append((call_id, entry))
        self._wakeup.set()

    def wake(self) -> None:
        self._wakeup.set()

    async def next_batch(self, wait_seconds: float) -> list[tuple[str, TimelineEntry]]:
        """What arrived since the last call, waiting up to `wait_seconds` for something
        (an empty list: nothing came, or the feed closed)."""
        if not self._items and not self._feed.closed:
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), wait_seconds)
            except TimeoutError:
                return []
        items = list(self._items)
        self._items.clear()
        return items

    def close(self) -> None:
        self._feed.unsubscribe(self)


class CallFeed:
    def __init__(self, limit: int = SUBSCRIBER_LIMIT) -> None:
        self._limit = limit
        self._subscribers: dict[str, set[Subscription]] = {}
        self.closed = False

    def listener(self, account_id: str, call_id: str) -> Callable[[TimelineEntry], None]:
        """What a call's Timeline calls with each entry it adds (it holds no runner: no cycle)."""
        return functools.partial(self.publish, account_id, call_id)

    def publish(self, account_id: str, call_id: str, entry: TimelineEntry) -> None:
        for subscription in self._subscribers.get(account_id, ()):
            subscription.put(call_id, entry)

    def subscribe(self, account_id: str) -> Subscription:
        subscription = Subscription(self, account_id, self._limit)
        self._subscribers.setdefault(account_id, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscribers = self._subscribers.get(subscription.account_id)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscribers[subscription.account_id]

    def close(self) -> None:
        """The server is stopping: every stream ends, so connections close and shutdown does
        not wait for them."""
        self.closed = True
        for subscribers in self._subscribers.values():
            for subscription in subscribers:
                subscription.wake()
