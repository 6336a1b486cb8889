"""Call ids: Bandwidth's shape, ordered by creation millisecond, otherwise random."""

from __future__ import annotations

import re
import time
import uuid

from switchboard.calls.ids import new_call_id

# `c-` + 8 hex + `-` + a UUID with its version (4) and variant (8-b) digits: 47 characters.
CALL_ID = re.compile(
    r"^c-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\Z"
)


def test_ids_have_bandwidths_shape_and_are_unique() -> None:
    ids = [new_call_id() for _ in range(20_000)]
    assert all(CALL_ID.match(call_id) and len(call_id) == 47 for call_id in ids)
    assert all(uuid.UUID(call_id[11:]).version == 4 for call_id in ids)
    assert len(set(ids)) == len(ids)


def test_ids_of_later_milliseconds_sort_later() -> None:
    first = new_call_id()
    deadline = time.monotonic() + 1
    while time.time_ns() // 1_000_000 == int(first[2:10], 16) * 1000 + int(first[11:14], 16):
        assert time.monotonic() < deadline  # the wall clock moves on within a second
    second = new_call_id()
    assert first[:14] < second[:14] and first < second


def test_the_creation_time_is_the_second_and_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    call_id = new_call_id()
    after = time.time_ns() // 1_000_000
    assert before <= int(call_id[2:10], 16) * 1000 + int(call_id[11:14], 16) <= after


def test_two_ids_do_not_reveal_how_many_ids_were_made_between_them() -> None:
    """No sequence number: whoever holds two ids cannot count the calls made in between."""
    low_bits = (1 << 20) - 1
    gaps = set()
    for _ in range(20):
        first = new_call_id()
        for _ in range(100):
            new_call_id()
        second = new_call_id()
        gaps.add((int(second[11:19], 16) - int(first[11:19], 16)) & low_bits)
    assert 101 not in gaps and len(gaps) > 1
