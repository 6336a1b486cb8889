"""What the provisioning code needs from a blocking SQL connection, on either backend.

The provisioning functions (store/provisioning_db.py), the config file's sync at start-up
(provisioning/setup.py) and the CLI are written once, with `?` placeholders and DB-API calls;
`sqlite3.Connection` already is an `SqlConnection`, and `PostgresConnection` adapts psycopg's
blocking connection to it, so the same function provisions either database.
"""

from __future__ import annotations

import functools
import re
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import psycopg

# What a unique or foreign key refused, from either driver (the CLI turns it into a message).
IntegrityErrors: tuple[type[Exception], ...] = (sqlite3.IntegrityError, psycopg.IntegrityError)


class SqlCursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class SqlConnection(Protocol):
    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> SqlCursor: ...

    def close(self) -> None: ...


@functools.cache
def pyformat(sql: str) -> str:
    """`?` placeholders as psycopg's `%s` (a literal `%` doubled). Our SQL has no `?` or `%`
    inside string literals but the ones meant (`to_char` formats carry none)."""
    return re.sub(r"\?", "%s", sql.replace("%", "%%"))


# SQLite's transaction statements, as PostgreSQL spells them (the connection autocommits
# otherwise, as `schema.connect`'s SQLite connections do).
_TRANSACTION_STATEMENTS = {
    "BEGIN IMMEDIATE": "BEGIN",
    "BEGIN": "BEGIN",
    "COMMIT": "COMMIT",
    "ROLLBACK": "ROLLBACK",
}


class PostgresConnection:
    """A blocking psycopg connection that answers as `sqlite3.Connection` does for our SQL."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.raw = connection

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> SqlCursor:
        transaction = _TRANSACTION_STATEMENTS.get(sql.strip())
        if transaction is not None:
            return self.raw.execute(transaction)
        return self.raw.execute(pyformat(sql), tuple(parameters))

    def close(self) -> None:
        self.raw.close()
