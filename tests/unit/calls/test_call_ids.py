"""Call ids: Bandwidth's shape, ordered by creation millisecond, otherwise random."""

from __future__ import annotations

import re
import time
import uuid
from types import SimpleNamespace

import pytest

from switchboard.calls import ids
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


@pytest.mark.parametrize(
    ("earlier_ms", "later_ms"),
    [
        (1_700_000_000_000, 1_700_000_000_001),  # the next millisecond
        (1_700_000_000_999, 1_700_000_001_000),  # into the next second
        (1_700_000_000_015, 1_700_000_000_016),  # 0x00f -> 0x010
        (1_700_000_000_159, 1_700_000_000_160),  # 0x09f -> 0x0a0: digit, then letter
        (1_700_000_000_255, 1_700_000_000_256),  # 0x0ff -> 0x100: all three digits used
        (1_700_000_015_999, 1_700_000_016_000),  # the seconds' hex digits carry
    ],
)
def test_ids_of_later_milliseconds_sort_later(
    monkeypatch: pytest.MonkeyPatch, earlier_ms: int, later_ms: int
) -> None:
    # The wall clock, set by the test: the real one can step back (NTP) between two ids.
    now_ms = earlier_ms
    monkeypatch.setattr(ids, "time", SimpleNamespace(time_ns=lambda: now_ms * 1_000_000))
    earlier = [new_call_id() for _ in range(200)]
    now_ms = later_ms
    later = [new_call_id() for _ in range(200)]

    assert all(first < second for first in earlier for second in later)


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
