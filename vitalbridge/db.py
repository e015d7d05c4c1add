"""Engines, sessions and the per-transaction tenant setting.

Three roles reach the database: the owner (migrations), the app role (commands and
queries, subject to row-level security) and the relay role (reads every tenant's
outbox). Engines are built by ``create_app``, never at import.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

import orjson
import psycopg
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    MetaData,
    Table,
    any_,
    create_engine,
    literal,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import NullType

from config.settings import Settings
from vitalbridge.driver_sql import DriverStatement

# Constraint names are part of the contract with Alembic and with error mapping
# (an exclusion-constraint name tells which rule a conflicting insert broke).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Platform-level rows (a platform key's idempotency records and audit trail) are
# scoped to this reserved tenant id, so one RLS policy shape covers every table.
PLATFORM_SCOPE = uuid.UUID(int=0)


class Base(DeclarativeBase):
    """Declarative base shared by every domain's mapped classes."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def table_of(model: type[Base]) -> Table:
    """The Core table behind a mapped class, for plain INSERTs and column-only reads.

    The ORM path (objects, bulk insert of mappings) costs several times the Core one;
    hot paths that need neither identity map nor events write and read the table.
    """
    return cast(Table, model.__table__)


def psycopg_url(url: str) -> str:
    """Force the psycopg 3 driver whatever scheme the operator wrote."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


@dataclass
class Database:
    """The app's engines and session factories."""

    engine: Engine
    replica: Engine
    sessions: sessionmaker[Session]
    read_sessions: sessionmaker[Session]

    @property
    def has_replica(self) -> bool:
        """Whether queries have a replica of their own (DATABASE_REPLICA_URL)."""
        return self.replica is not self.engine

    def dispose(self) -> None:
        """Close every pooled connection (tests, shutdown)."""
        self.engine.dispose()
        if self.has_replica:
            self.replica.dispose()


def build_database(settings: Settings) -> Database:
    """Create the primary (and optional replica) engines for the app role."""
    engine = service_engine(settings.app_url, settings.database_pool_size)
    replica = (
        service_engine(settings.database_replica_url, settings.database_pool_size,
                       connect_timeout=REPLICA_CONNECT_TIMEOUT)
        if settings.database_replica_url
        else engine
    )
    return Database(
        engine=engine,
        replica=replica,
        sessions=sessionmaker(engine, expire_on_commit=False, autobegin=False),
        read_sessions=sessionmaker(replica, expire_on_commit=False, autobegin=False),
    )


def owner_engine(settings: Settings) -> Engine:
    """An engine for the owner role: migrations and role provisioning only."""
    return create_engine(psycopg_url(settings.database_url), pool_pre_ping=True,
                         hide_parameters=True, connect_args=UTC_SESSIONS,
                         json_deserializer=PARSE_JSON)


# Sessions in UTC: timestamps come back with datetime.UTC as their zone, which psycopg
# and the calendar math take as is. In any named zone (even 'Etc/UTC') psycopg converts
# every value through zoneinfo, a cost that shows when availability reads thousands.
UTC_SESSIONS = {"options": "-c timezone=UTC"}
# JSON values (events' envelopes, read-model rows) parsed by orjson: the relay reads a
# batch's hundreds of envelopes at once, and the standard parser was a visible share.
PARSE_JSON = orjson.loads
# Seconds to give up reaching the replica: queries then read the primary (a host that
# drops packets would otherwise hold each request for the system's TCP timeout).
REPLICA_CONNECT_TIMEOUT = 2


def service_engine(url: str, pool_size: int, *, connect_timeout: int | None = None) -> Engine:
    """A pooled engine for one of the app's roles (app, relay, replica).

    Every engine hides parameters: a database error's text (logged, or printed by a CLI
    command) never carries a statement's values, which are names, birth dates, phones.
    """
    connect_args: dict[str, Any] = dict(UTC_SESSIONS)
    if connect_timeout is not None:
        connect_args["connect_timeout"] = connect_timeout
    return create_engine(psycopg_url(url), pool_size=pool_size, max_overflow=pool_size,
                         pool_pre_ping=True, hide_parameters=True, connect_args=connect_args,
                         json_deserializer=PARSE_JSON)


def scalar_between_transactions(connection: Connection, sql: str,
                                params: dict[str, Any] | None = None) -> Any:
    """Run one statement on ``connection`` outside any transaction; return its value.

    For the moments just after a COMMIT (the commit's WAL position) and just before a
    transaction's first statement (whether the replica has replayed far enough, asked
    before the snapshot is taken). psycopg opens a transaction with the first statement
    after them, so the driver connection is idle there even while SQLAlchemy's own
    transaction object is open or being closed; the statement runs in autocommit.
    """
    raw = cast(psycopg.Connection[Any], connection.connection.dbapi_connection)
    if raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        raise RuntimeError("a statement between transactions ran inside one")
    raw.autocommit = True
    try:
        row = raw.execute(sql, params).fetchone()
    finally:
        raw.autocommit = False
    return row[0] if row else None


def begin_read_only(session: Session, tenant_id: uuid.UUID) -> None:
    """Make the current transaction read-only and scope it to one tenant, in one round trip."""
    _READ_ONLY_IN_TENANT.run(session, {"tenant": str(tenant_id)})


def set_tenant(session: Session, tenant_id: uuid.UUID) -> None:
    """Scope the current transaction to one tenant (row-level security reads it)."""
    _IN_TENANT.run(session, {"tenant": str(tenant_id)})


# Through the driver: every transaction of a request runs one of these.
_READ_ONLY_IN_TENANT = DriverStatement("SELECT set_config('transaction_read_only', 'on', true), "
                                       "set_config('app.tenant_id', %(tenant)s, true)")
_IN_TENANT = DriverStatement("SELECT set_config('app.tenant_id', %(tenant)s, true)")


def among(column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """``column = ANY(:values)``, the values bound as one array parameter.

    ``IN`` binds a parameter per value, each dumped and parsed alone, and makes another
    statement for every count; the batches of the read models hold hundreds of ids.
    """
    # Untyped, the parameter takes the cast's type (an array), parsed once per statement;
    # typed as text, a generic plan would cast it again for every row it filters.
    return column == any_(sql_cast(literal(array_literal(values), NullType()),
                                   ARRAY(column.type)))


def array_literal(values: Iterable[Any]) -> str:
    """PostgreSQL's text form of a one-dimensional array of ``values`` (none None), to
    bind as text and cast: one string, where a list is dumped element by element in
    Python (for the read models' batches of hundreds of ids, a noticeable share of the
    relay's time). Every element is double-quoted, so any text is safe in it."""
    return "{" + ",".join(_quoted(value) for value in values) + "}"


def _quoted(value: Any) -> str:
    if isinstance(value, uuid.UUID):  # hex digits and dashes: nothing to escape
        return f'"{value}"'
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'
