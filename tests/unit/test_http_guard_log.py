"""Refused connections are logged at most once per second, then counted (issue 23): a flood of
half-open connections must not become a flood of log lines."""

from __future__ import annotations

import logging

import pytest

from switchboard.http_guard import RefusalLog


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_one_line_per_interval_then_how_many_were_not_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    log = RefusalLog(1.0, clock)
    with caplog.at_level(logging.WARNING, logger="switchboard.http"):
        log.note(("10.0.0.1", 5000), 408, "late")
        for port in range(1000):
            log.note(("10.0.0.2", port), 503, "full")
        clock.now += 1
        log.note(("10.0.0.3", 1), 431, "big")
    assert [r.getMessage() for r in caplog.records] == [
        "refused a connection from 10.0.0.1:5000: 408 late",
        "refused a connection from 10.0.0.3:1: 431 big (and 1000 more refused since the last line)",
    ]
