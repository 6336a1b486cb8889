"""Helpers for testing apps against Switchboard. The pytest plugin (issue 14) will build on
these; until it lands they are plain functions and context managers."""

from switchboard.testing.hosts import bandwidth_hosts

__all__ = ["bandwidth_hosts"]
