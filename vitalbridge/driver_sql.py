"""The few statements every request runs, sent straight through the driver.

A statement through ``Session.execute`` pays SQLAlchemy's execution layer (the compiled
cache's key, an execution context, result metadata) on top of psycopg's own work: for a
booking that layer was about a third of the app's CPU, more than the statements cost
the driver (bench/RESULTS.md). The statements on that path (the tenant setting, the key
check, the booking's reads and writes) run on the session's own connection, inside its
transaction, through psycopg: prepared on first use on each connection, their errors
raised as SQLAlchemy's (an IntegrityError with its constraint, an OperationalError for a
timeout or a lost connection), so that callers and error handlers treat them as any
other statement's. Everything else keeps using the session.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ClauseElement

T = TypeVar("T")
Params = Mapping[str, Any]

# Compiles Core statements into the driver's SQL (%(name)s placeholders); the engines'
# dialect is the same one, so the SQL is what Session.execute would send.
_DIALECT = PGDialect_psycopg()


@dataclass(frozen=True)
class DriverStatement:
    """SQL with named parameters, run on a session's connection through psycopg."""

    sql: str
    # Values compiled into a Core statement (its literals), sent with every execution.
    defaults: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, statement: ClauseElement) -> DriverStatement:
        """A Core statement compiled once; its unbound parameters are the caller's."""
        compiled = statement.compile(dialect=_DIALECT)
        literals = {name: value for name, value in compiled.params.items() if value is not None}
        return cls(str(compiled), literals)

    def rows(self, session: Session, params: Params | None = None, *,
             named: bool = True) -> list[Any]:
        """Every row, as named tuples (plain tuples when not ``named``: a statement whose
        columns have no names, or the same name twice)."""
        return self._run(session, params, lambda cursor: cursor.fetchall(), named=named)

    def first(self, session: Session, params: Params | None = None) -> Any | None:
        """The first row as a named tuple, or None."""
        return self._run(session, params, lambda cursor: cursor.fetchone(), named=True)

    def scalar(self, session: Session, params: Params | None = None) -> Any:
        """The first column of the first row, or None."""
        row = self._run(session, params, lambda cursor: cursor.fetchone(), named=False)
        return row[0] if row else None

    def run(self, session: Session, params: Params | None = None) -> None:
        """Execute, reading nothing back."""
        self._run(session, params, lambda _cursor: None, named=False)

    def _run(self, session: Session, params: Params | None,
             fetch: Callable[[psycopg.Cursor[Any]], T], *, named: bool) -> T:
        connection = session.connection()
        raw = cast(psycopg.Connection[Any], connection.connection.driver_connection)
        values = {**self.defaults, **params} if self.defaults and params else (
            params or self.defaults)
        try:
            cursor = raw.cursor(row_factory=namedtuple_row) if named else raw.cursor()
            with cursor:
                _announce(connection, "before_cursor_execute", cursor, self.sql, values)
                cursor.execute(self.sql, values, prepare=True)
                _announce(connection, "after_cursor_execute", cursor, self.sql, values)
                return fetch(cursor)
        except psycopg.Error as error:
            raise _as_sqlalchemy_error(error, self.sql, connection) from error


def _announce(connection: Connection, hook: str, cursor: psycopg.Cursor[Any], sql: str,
              values: Params | None) -> None:
    """Tell the engine's cursor listeners (statement counters in tests, tracing), as
    SQLAlchemy would; with none listening this costs one check."""
    listeners = getattr(connection.dispatch, hook)
    if listeners:
        listeners(connection, cursor, sql, values, None, False)


def _as_sqlalchemy_error(error: psycopg.Error, sql: str,
                         connection: Connection) -> StatementError:
    """The exception SQLAlchemy would have raised for ``error`` (parameters hidden, as on
    every engine of the app); a lost connection is invalidated, as it would have been."""
    dialect = connection.dialect
    lost = dialect.is_disconnect(cast(Any, error), connection.connection.dbapi_connection, None)
    if lost:
        connection.invalidate(error)
    return DBAPIError.instance(sql, None, error, psycopg.Error, hide_parameters=True,
                               connection_invalidated=lost, dialect=dialect)
