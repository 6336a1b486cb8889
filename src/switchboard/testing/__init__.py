"""Helpers for testing apps against Switchboard: the pytest plugin's `switchboard` fixture
(plugin.py, docs/testing.md) is a `Switchboard` (harness.py), which a test runner of another
kind can start itself; `bandwidth_hosts` sends Bandwidth's hostnames to a Switchboard."""

from switchboard.testing.harness import Call, Switchboard, SwitchboardError, WaitTimeout, start
from switchboard.testing.hosts import bandwidth_hosts

__all__ = ["Call", "Switchboard", "SwitchboardError", "WaitTimeout", "bandwidth_hosts", "start"]
