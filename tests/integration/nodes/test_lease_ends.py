"""When the leases of other nodes end, as the database tells a node (store/postgres.py
`heartbeat` and `next_lease_end`): what a survivor uses to adopt a dead node's calls right
after its lease ends. Real PostgreSQL, two stores standing for two nodes."""

from __future__ import annotations

import pytest

from switchboard.store.postgres import PostgresStore

pytestmark = pytest.mark.slow


async def test_a_node_learns_when_the_soonest_other_lease_ends(
    postgres_url: str, schema: str
) -> None:
    a, b, c = (PostgresStore(postgres_url, schema=schema) for _ in range(3))
    for store in (a, b, c):
        await store.open()
    try:
        await a.register_node("node-a", "http://127.0.0.1:1", 10)
        assert await a.next_lease_end() is None  # alone
        await b.register_node("node-b", "http://127.0.0.1:2", 4)
        await c.register_node("node-c", "http://127.0.0.1:3", 8)
        soonest = await a.next_lease_end()
        assert soonest is not None and 3 < soonest <= 4  # node-b's
        beat = await a.heartbeat(10)
        assert beat.renewed and beat.others_expire_in is not None
        assert 3 < beat.others_expire_in <= 4
        await b.leave()  # its lease ends now: node-c's is next
        soonest = await a.next_lease_end()
        assert soonest is not None and 7 < soonest <= 8
        assert (await c.heartbeat(8)).others_expire_in is not None  # node-a's
    finally:
        for store in (a, b, c):
            await store.close()
