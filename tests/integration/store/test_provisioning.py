"""Provisioning through the store: a change made with `provision` (the functions of
store/provisioning_db.py, on either database) is in the next snapshot, and
`provisioning_changed()` says so; so is a change made by another store on the same database
(another node, or the CLI's connection); an unchanged record rewritten is not a change."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from switchboard.provisioning.models import (
    Account,
    ApiUser,
    Application,
    OAuthClient,
    PhoneNumber,
    Snapshot,
)
from switchboard.provisioning.voice_settings import VoiceSettings
from switchboard.store import provisioning_db
from tests.integration.store.conftest import Backend
from tests.integration.store.contract import INTEGRITY_ERRORS, AnyStore, event
from tests.unit.store.calls import make_call

SEEN_WITHIN_S = 5.0  # a change from another store: next turn on SQLite, a NOTIFY on PostgreSQL

ACCOUNT = Account("9900001", "Main", calls_per_second=2.5, concurrent_calls=40, queue_enabled=True)
PLAIN = Account("9900002", "Plain")  # the server's default limits (None)
USER = ApiUser("api-user", ACCOUNT.id, "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA")
CLIENT = OAuthClient("client-1", ACCOUNT.id, "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$c2VjcmV0")
APPLICATION = Application(
    "04e88489-df02-4e34-a0ee-27a91849555f",
    ACCOUNT.id,
    "Front desk ☎",
    VoiceSettings(
        call_initiated_callback_url="http://127.0.0.1:9/initiated",
        call_initiated_method="GET",
        call_status_callback_url="http://127.0.0.1:9/status",
        callback_username="hook",
        callback_password="sealed:abc",
        callback_timeout=7.5,
    ),
)
NUMBER = PhoneNumber("+15555551212", ACCOUNT.id, APPLICATION.id)
SPARE = PhoneNumber("+15555551213", ACCOUNT.id)


def put_everything(connection: Any) -> None:
    provisioning_db.put_account(connection, ACCOUNT)
    provisioning_db.put_account(connection, PLAIN)
    provisioning_db.put_user(connection, USER)
    provisioning_db.put_oauth_client(connection, CLIENT)
    provisioning_db.put_application(connection, APPLICATION)
    provisioning_db.put_number(connection, NUMBER)
    provisioning_db.put_number(connection, SPARE)


def change(function: Callable[..., Any], *arguments: Any) -> Callable[[Any], Any]:
    return lambda connection: function(connection, *arguments)


async def next_turn() -> None:
    await asyncio.sleep(0)


async def looks_unchanged(store: AnyStore) -> bool:
    """Asked on the next turns of the loop (SQLite looks once per turn)."""
    for _ in range(3):
        await next_turn()
        if store.provisioning_changed():
            return False
    return True


async def seen(store: AnyStore) -> bool:
    """Whether the store comes to say provisioning changed (bounded: SEEN_WITHIN_S)."""
    deadline = time.monotonic() + SEEN_WITHIN_S
    while time.monotonic() < deadline:
        await next_turn()
        if store.provisioning_changed():
            return True
        await asyncio.sleep(0.01)
    return False


async def test_a_fresh_database_has_nothing_provisioned(any_store: AnyStore) -> None:
    assert await any_store.load_provisioning() == Snapshot()
    assert await looks_unchanged(any_store)


async def test_what_is_provisioned_is_in_the_next_snapshot(any_store: AnyStore) -> None:
    await any_store.load_provisioning()
    await any_store.provision(put_everything)
    assert await seen(any_store)
    snapshot = await any_store.load_provisioning()
    assert snapshot == Snapshot(
        accounts={ACCOUNT.id: ACCOUNT, PLAIN.id: PLAIN},
        users={USER.username: USER},
        oauth_clients={CLIENT.client_id: CLIENT},
        applications={APPLICATION.id: APPLICATION},
        numbers={NUMBER.number: NUMBER, SPARE.number: SPARE},
    )
    assert await looks_unchanged(any_store)  # loaded: nothing new since


async def test_changes_and_removals_are_seen(any_store: AnyStore) -> None:
    await any_store.provision(put_everything)
    await any_store.load_provisioning()
    assert await looks_unchanged(any_store)
    limited = Account(ACCOUNT.id, ACCOUNT.name, calls_per_second=None, concurrent_calls=40)
    await any_store.provision(change(provisioning_db.put_account, limited))
    assert await seen(any_store)
    assert (await any_store.load_provisioning()).accounts[ACCOUNT.id] == limited

    removed: list[bool] = []
    await any_store.provision(
        lambda connection: removed.extend(
            [
                provisioning_db.remove(connection, "number", SPARE.number),
                provisioning_db.remove(connection, "number", SPARE.number),
            ]
        )
    )
    assert removed == [True, False]  # whether it existed
    assert await seen(any_store)
    assert SPARE.number not in (await any_store.load_provisioning()).numbers
    # An account's removal takes its users, clients, applications and numbers with it.
    await any_store.provision(change(provisioning_db.remove, "account", ACCOUNT.id))
    assert await any_store.load_provisioning() == Snapshot(accounts={PLAIN.id: PLAIN})


async def test_rewriting_unchanged_records_is_not_a_change(any_store: AnyStore) -> None:
    """Every change makes every node reload and re-verify credentials: the config file's sync
    at start-up rewrites every record, and must not look like one when nothing differs."""
    await any_store.provision(put_everything)
    await any_store.load_provisioning()
    assert await looks_unchanged(any_store)
    await any_store.provision(
        lambda connection: (
            provisioning_db.put_account(connection, ACCOUNT),
            provisioning_db.put_account(connection, PLAIN),
            provisioning_db.put_application(connection, APPLICATION),
            provisioning_db.put_number(connection, NUMBER),
            provisioning_db.put_number(connection, SPARE),
        )
    )
    assert await looks_unchanged(any_store)


async def test_a_change_that_fails_leaves_nothing_of_itself(any_store: AnyStore) -> None:
    """A provisioning change is one transaction: a CLI command refused half-way (here a user of
    an account that does not exist) keeps none of its writes, and the error reaches it."""
    await any_store.provision(change(provisioning_db.put_account, PLAIN))
    await any_store.load_provisioning()

    def half_way(connection: Any) -> None:
        provisioning_db.put_account(connection, ACCOUNT)
        provisioning_db.put_user(connection, ApiUser("ghost", "9999999", USER.password_hash))

    with pytest.raises(INTEGRITY_ERRORS):
        await any_store.provision(half_way)
    assert await any_store.load_provisioning() == Snapshot(accounts={PLAIN.id: PLAIN})
    # The store still provisions after a failed change.
    await any_store.provision(put_everything)
    assert USER.username in (await any_store.load_provisioning()).users


async def test_a_change_made_by_another_store_on_the_database_is_seen(
    any_store: AnyStore, backend: Backend
) -> None:
    await any_store.provision(change(provisioning_db.put_account, PLAIN))
    await any_store.load_provisioning()
    assert await looks_unchanged(any_store)
    other = backend.make()  # another node, or the CLI
    await other.open()
    try:
        await other.provision(put_everything)
    finally:
        await other.close()
    assert await seen(any_store)
    assert (await any_store.load_provisioning()).numbers == {
        NUMBER.number: NUMBER,
        SPARE.number: SPARE,
    }


async def test_a_call_or_an_event_is_not_a_provisioning_change(any_store: AnyStore) -> None:
    await any_store.load_provisioning()
    call = make_call(7)
    await any_store.insert_call(call)
    await any_store.record_event(event(call.call_id))
    assert await looks_unchanged(any_store)
