"""Stream tokens of the web console (issue 14): each names one account, opens streams only
until it expires, and the table of them stays bounded."""

from __future__ import annotations

import pytest

from switchboard.console import routes
from switchboard.console.routes import StreamTokens


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_token_names_its_account_until_it_expires() -> None:
    clock = Clock()
    tokens = StreamTokens(seconds=60, now=clock)
    token = tokens.issue("9900001")
    assert tokens.account_of(token) == "9900001"
    assert tokens.account_of(token + "x") is None and tokens.account_of("") is None
    clock.now += 59.9
    assert tokens.account_of(token) == "9900001"
    clock.now += 0.1
    assert tokens.account_of(token) is None
    assert tokens.issue("9900001") != token  # random, never reissued


def test_the_table_of_tokens_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routes, "MAX_TOKENS", 10)
    clock = Clock()
    tokens = StreamTokens(seconds=60, now=clock)
    issued = [tokens.issue("9900001") for _ in range(25)]
    assert len(tokens._tokens) <= 10
    assert tokens.account_of(issued[-1]) == "9900001"  # the newest survive
    assert tokens.account_of(issued[0]) is None
    clock.now += 61  # all expired: the next issue clears them instead of halving
    tokens.issue("9900001")
    for _ in range(9):
        tokens.issue("9900001")
    assert tokens.account_of(issued[-1]) is None and len(tokens._tokens) == 10
