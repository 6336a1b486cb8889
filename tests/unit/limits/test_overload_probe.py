"""The overload probe (limits/overload_probe.py) on a loop whose wake-ups are late by as much as
a test says (tests/support/virtual_loop.py): it measures that lateness as the loop's lag, hands
it to the gate with the backlog, and the gate refuses and resumes as the lag comes and goes."""

from __future__ import annotations

import asyncio

import pytest

from switchboard.limits.overload import BACKLOG, LOOP_LAG, OverloadGate, OverloadSettings
from switchboard.limits.overload_probe import OverloadProbe
from tests.support.virtual_loop import VirtualTimeLoop

pytestmark = pytest.mark.virtual_time


def reason(gate: OverloadGate) -> str | None:
    refusal = gate.check(0)
    return None if refusal is None else refusal.reason


async def test_the_probe_measures_how_late_the_loop_runs_its_timers() -> None:
    loop = VirtualTimeLoop.running()
    gate = OverloadGate(OverloadSettings(max_loop_lag_seconds=0.2, probe_interval_seconds=0.1))
    probe = OverloadProbe(gate, lambda: 0)
    probe.start()
    try:
        await asyncio.sleep(1.0)
        assert (gate.last_lag, reason(gate)) == (0.0, None)

        loop.lateness = lambda: 0.25  # a loaded machine: every wake-up 250 ms late
        await asyncio.sleep(0.1)  # one probe
        assert gate.last_lag == pytest.approx(0.25)
        assert reason(gate) is None  # one late probe is not overload
        await asyncio.sleep(0.1)
        assert reason(gate) == LOOP_LAG

        loop.lateness = lambda: 0.15  # better, but not under half the limit
        await asyncio.sleep(1.0)
        assert gate.last_lag == pytest.approx(0.15)
        assert reason(gate) == LOOP_LAG

        loop.lateness = lambda: 0.0
        await asyncio.sleep(0.5)
        assert (gate.last_lag, reason(gate)) == (0.0, None)
    finally:
        probe.stop()


async def test_the_probe_hands_the_gate_the_backlog() -> None:
    waiting = [0]
    gate = OverloadGate(OverloadSettings(max_backlog=100, probe_interval_seconds=0.1))
    probe = OverloadProbe(gate, lambda: waiting[0])
    probe.start()
    try:
        waiting[0] = 150
        await asyncio.sleep(0.25)
        assert (gate.last_backlog, reason(gate)) == (150, BACKLOG)
        waiting[0] = 0
        await asyncio.sleep(0.25)
        assert (gate.last_backlog, reason(gate)) == (0, None)
    finally:
        probe.stop()


async def test_a_stopped_probe_measures_nothing_more() -> None:
    loop = VirtualTimeLoop.running()
    gate = OverloadGate(OverloadSettings(probe_interval_seconds=0.1))
    probe = OverloadProbe(gate, lambda: 0)
    probe.start()
    await asyncio.sleep(0.15)
    probe.stop()
    loop.lateness = lambda: 5.0
    await asyncio.sleep(1.0)
    assert gate.last_lag == 0.0
