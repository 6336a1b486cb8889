"""Fixtures of the multi-node tests: a fresh PostgreSQL schema per test, and the webhook app
that answers every call with a long <Pause> (a call stays live until a test ends it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.postgres import drop_schema, fresh_schema
from tests.support.receiver import Receiver


@pytest.fixture
def schema(postgres_url: str) -> Iterator[str]:
    name = fresh_schema(postgres_url)
    yield name
    drop_schema(postgres_url, name)


@pytest.fixture
def app() -> Iterator[Receiver]:
    receiver = Receiver().start()
    receiver.on("/answer", "<Response><Pause duration='3600'/></Response>")
    yield receiver
    receiver.stop()
