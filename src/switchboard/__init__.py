"""Switchboard: a self-hostable programmable-voice server speaking Bandwidth's Voice API v2."""

__version__ = "0.1.0"
