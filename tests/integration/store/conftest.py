"""One store test suite, run on both backends (issue 18): every test here takes `any_store`,
a store open on a fresh, empty database of each kind in turn.

- sqlite: `SqliteStore` on a file in the test's tmp_path.
- postgres: `PostgresStore` on the session's throwaway PostgreSQL 15 (`postgres_url`, started by
  scripts/postgres.sh), its tables in a schema of their own made for this test.

`backend.make()` gives another store on the same database (not yet open): a second node, or the
same server after a restart.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.store.contract import AnyStore


@dataclass(frozen=True)
class Backend:
    name: str
    make: Callable[[], AnyStore]


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        from switchboard.store.sqlite import SqliteStore

        path = tmp_path / "switchboard.db"
        yield Backend("sqlite", lambda: SqliteStore(path))
        return
    # Looked up only for this param: `-k sqlite` starts no PostgreSQL.
    url: str = request.getfixturevalue("postgres_url")
    from switchboard.store.postgres import PostgresStore
    from tests.support.postgres import drop_schema, fresh_schema

    schema = fresh_schema(url)
    yield Backend("postgres", lambda: PostgresStore(url, schema=schema))
    drop_schema(url, schema)  # the server is the session's: leave it as it was


@pytest.fixture
async def any_store(backend: Backend) -> AsyncIterator[AnyStore]:
    store = backend.make()
    await store.open()
    try:
        yield store
    finally:
        await store.close()
