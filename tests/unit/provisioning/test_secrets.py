"""Secrets are stored as salted scrypt hashes and checked in constant time."""

from __future__ import annotations

import pytest

from switchboard.provisioning.secrets import hash_secret, looks_hashed, verify_secret


def test_hash_verifies_only_the_same_secret() -> None:
    stored = hash_secret("correct horse")
    assert verify_secret("correct horse", stored)
    assert not verify_secret("correct horse ", stored)
    assert not verify_secret("Correct horse", stored)
    assert not verify_secret("", stored)


def test_hash_is_salted_and_never_holds_the_secret() -> None:
    first, second = hash_secret("same secret"), hash_secret("same secret")
    assert first != second
    assert "same secret" not in first
    assert first.startswith("scrypt$16384$8$1$")
    assert looks_hashed(first)


def test_unicode_and_empty_secrets() -> None:
    assert verify_secret("pässwörd ☎", hash_secret("pässwörd ☎"))
    assert verify_secret("", hash_secret(""))


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "plain-text",
        "bcrypt$2b$12$abc",
        "scrypt$x$8$1$AAAA$AAAA",
        "scrypt$16384$8$1$!!$!!",
        "scrypt$16384$8$1$only-five-parts",
    ],
)
def test_malformed_stored_hash_never_verifies(stored: str) -> None:
    assert not verify_secret("anything", stored)


@pytest.mark.parametrize(("value", "hashed"), [("scrypt$1$2", True), ("password", False)])
def test_looks_hashed(value: str, hashed: bool) -> None:
    assert looks_hashed(value) is hashed
