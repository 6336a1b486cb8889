"""Provisioning records: account ids like Bandwidth's, and the lookups a request makes."""

from __future__ import annotations

import pytest

from switchboard.provisioning.models import (
    ACCOUNT_ID,
    Account,
    Application,
    PhoneNumber,
    Snapshot,
    new_account_id,
    new_password,
)


def test_new_account_ids_are_seven_digits_without_a_leading_zero() -> None:
    for _ in range(200):
        account_id = new_account_id()
        assert ACCOUNT_ID.match(account_id) and account_id[0] != "0"


@pytest.mark.parametrize("value", ["123456", "12345678", "123456a", " 1234567", "1234567\n", ""])
def test_account_id_pattern_rejects(value: str) -> None:
    assert ACCOUNT_ID.match(value) is None


def test_new_passwords_are_long_and_distinct() -> None:
    passwords = {new_password() for _ in range(50)}
    assert len(passwords) == 50
    assert all(len(p) >= 20 for p in passwords)


def test_snapshot_lookups_are_per_account() -> None:
    snapshot = Snapshot(
        accounts={"1111111": Account("1111111", "A"), "2222222": Account("2222222", "B")},
        applications={"app-a": Application("app-a", "1111111", "IVR")},
        numbers={"+15555550001": PhoneNumber("+15555550001", "1111111")},
    )
    assert snapshot.account_owns_number("1111111", "+15555550001")
    assert not snapshot.account_owns_number("2222222", "+15555550001")
    assert not snapshot.account_owns_number("1111111", "+15555550002")
    assert snapshot.account_application("1111111", "app-a") == Application(
        "app-a", "1111111", "IVR"
    )
    assert snapshot.account_application("2222222", "app-a") is None
    assert snapshot.account_application("1111111", "app-b") is None
