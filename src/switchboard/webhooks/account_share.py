"""Each account's share of the outgoing webhook connections (issue 23, "One tenant cannot
starve the others").

The pool (1,000 connections) served every account, and deliveries of calls that had ended
(disconnects) counted against no limit: one account whose disconnectUrl slept 30 s had 1,100
deliveries in flight after 8 s, and every call of another account ended `callback-error: no
free outgoing connection`. Now every delivery, whatever its event, first takes one of its
account's `share` places and holds it for the whole exchange; past the share it waits (within
its callbackTimeout, like a wait for a pooled connection) while the pool stays free for
the other accounts.

A slow account thus holds at most `share` connections; another account's webhooks find the
pool free as long as fewer than pool / share accounts are saturating it at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

DEFAULT_SHARE = 200


class _Account:
    __slots__ = ("held", "places", "users")

    def __init__(self, share: int) -> None:
        self.places = asyncio.Semaphore(share)
        self.users = 0  # deliveries holding or waiting for a place
        self.held = 0  # deliveries holding one


class AccountShares:
    def __init__(self, share: int = DEFAULT_SHARE) -> None:
        if share < 1:
            raise ValueError("an account's share must be at least 1 connection")
        self.share = share
        # An account's entry goes when its last delivery ends: the map holds active accounts.
        self._accounts: dict[str, _Account] = {}

    def in_use(self, account_id: str) -> int:
        """Deliveries of the account holding a place now."""
        entry = self._accounts.get(account_id)
        return 0 if entry is None else entry.held

    @asynccontextmanager
    async def place(self, account_id: str | None) -> AsyncIterator[None]:
        """Hold one of the account's places for the body of the `async with` (None: a request
        of no account, not limited here)."""
        if account_id is None:
            yield
            return
        entry = self._accounts.get(account_id)
        if entry is None:
            entry = self._accounts[account_id] = _Account(self.share)
        entry.users += 1
        try:
            async with entry.places:
                entry.held += 1
                try:
                    yield
                finally:
                    entry.held -= 1
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._accounts[account_id]
