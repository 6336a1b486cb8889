"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from switchboard.store.sqlite import SqliteStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """The embedded store, open on a fresh database file."""
    opened = SqliteStore(tmp_path / "switchboard.db")
    await opened.open()
    yield opened
    await opened.close()
