"""Read models: tables kept by subscribers of the relay, each with a checkpoint per tenant.

A read model follows some event types. For a delivered batch it says which keys the
events touch (a patient, an appointment) and recomputes those keys' rows from the owning
domains' current answers, asked through the query bus, then replaces them. The rows
depend only on the state read, never on the order or the number of deliveries: events
of different aggregates may arrive in any order and more than once, the rows come out
the same. Each read model is the only writer of its tables. Where some events can
change only a few columns of a row (an appointment's end, in a patient's summary), a
read model may name those columns: for such events it recomputes them alone, from the
same owners, and leaves the rest of the row to the events that change it.

The checkpoint says which event was applied last and when; what an answer is behind by
is read from the outbox (events not yet delivered) and the parked deliveries (events
delivered but not yet applied), never from the checkpoint alone: an event committed
late has a smaller sequence number than one already applied, and a cursor would hide it.
"""

from __future__ import annotations

import abc
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

import orjson
from sqlalchemy import Connection, Table, delete, text
from sqlalchemy.orm import Session

from vitalbridge.db import among
from vitalbridge.messaging.bus import QueryBus, ReadContext
from vitalbridge.messaging.messages import Principal, Query, to_json_value
from vitalbridge.messaging.replica import REPLICA_BEHIND_SINCE_SQL
from vitalbridge.messaging.subscribers import BatchSubscriber
from vitalbridge.messaging.uow import UnitOfWork

Key = str
Row = dict[str, Any]
SUBSCRIBER_PREFIX = "read_model."

CURRENT, BEHIND, REBUILDING = "current", "behind", "rebuilding"


@dataclass(frozen=True)
class Reader:
    """What a read model recomputes with: a session, and the query bus inside it."""

    session: Session
    principal: Principal
    queries: QueryBus
    # Answers a read model keeps for the rest of one apply (its keys and its rows may
    # need the same ones); one apply is one transaction, so they cannot go stale.
    memo: dict[str, Any] = field(default_factory=dict)

    @property
    def tenant_id(self) -> uuid.UUID:
        """The tenant being recomputed."""
        assert self.principal.tenant_id is not None
        return self.principal.tenant_id

    def ask(self, query: Query) -> Any:
        """Answer ``query`` in this session (the primary, the current state)."""
        return self.queries.answer_in(query, ReadContext(self.session, self.principal))


class ReadModel(abc.ABC):
    """A table of derived rows, one or more per key, recomputed per key from the owners."""

    name: ClassVar[str]
    event_types: ClassVar[frozenset[str]]
    table: ClassVar[Table]  # what queries read
    staging: ClassVar[Table]  # what a rebuild fills before it replaces ``table``
    key_column: ClassVar[str]
    # Columns that some events change without the rest of a row (see ``part_keys_of``),
    # recomputed alone for them; none: every event refreshes whole rows.
    part_columns: ClassVar[tuple[str, ...]] = ()

    @abc.abstractmethod
    def keys_of(self, envelopes: Sequence[dict[str, Any]], reader: Reader) -> set[Key]:
        """The keys whose rows the events may have changed."""

    @abc.abstractmethod
    def rows_for(self, keys: Sequence[Key], reader: Reader) -> list[Row]:
        """The complete rows of ``keys`` as the owners answer now (a fixed few queries)."""

    def part_keys_of(self, envelopes: Sequence[dict[str, Any]], reader: Reader) -> set[Key]:
        """The keys of which the events may have changed ``part_columns`` only."""
        return set()

    def part_rows_for(self, keys: Sequence[Key], reader: Reader) -> list[Row]:
        """The key column and ``part_columns`` of the rows of ``keys``, as the owners
        answer now (a fixed few queries, fewer than whole rows take)."""
        raise NotImplementedError(f"{self.name} recomputes whole rows only")

    @abc.abstractmethod
    def key_page(self, reader: Reader, after: Key | None, limit: int) -> list[Key]:
        """Every key the command tables hold, in order, a page at a time (rebuilds)."""

    def key_value(self, key: Key) -> Any:
        """The value of ``key_column`` a key stands for (a UUID unless overridden)."""
        return uuid.UUID(key)

    def comparable(self, row: Row, now: datetime) -> Row:
        """A row as reconciliation compares it at ``now``: JSON values, without the
        moment it was computed at. A read model whose rows hold what an answer filters by
        the time it is asked overrides this to filter the same way."""
        return {column: to_json_value(value) for column, value in row.items()
                if column not in ("computed_at", "tenant_id")}

    def reconciled_keys(self, keys: Sequence[Key], reader: Reader) -> list[Key]:
        """The keys reconciliation compares (all; a read model that keeps a moving
        window leaves out the dates it is between)."""
        return list(keys)

    def on_rebuilt(self, session: Session, tenant_id: uuid.UUID) -> None:
        """Called in the swap's transaction, after the rebuilt rows replaced the old."""
        return  # most read models keep nothing beside their rows

    @property
    def subscriber(self) -> str:
        """The name it is delivered under (inbox, parked deliveries, metrics)."""
        return SUBSCRIBER_PREFIX + self.name


def replace_rows(session: Session, table: Table, column: Any, tenant_id: uuid.UUID,
                 values: Sequence[Any], rows: Sequence[Row]) -> None:
    """Delete the rows whose ``column`` is in ``values``, insert ``rows``: two statements.

    The rows travel as one JSON array that PostgreSQL turns into the table's records
    (JSON arrays into array columns, objects into jsonb ones): one statement parsed in
    the server, where a multi-row executemany costs a round of binding per row. orjson
    writes UUIDs, dates and instants itself, in ISO forms PostgreSQL reads back exactly
    (the standard encoder, with a callback per value, took most of the apply's time).
    """
    session.execute(delete(table).where(table.c.tenant_id == tenant_id, among(column, values)))
    if rows:
        session.execute(text(
            f'INSERT INTO "{table.name}" SELECT * FROM jsonb_populate_recordset('
            f'NULL::"{table.name}", CAST(:rows AS jsonb))'),
            {"rows": _rows_json(rows, tenant_id)})


def update_rows(session: Session, table: Table, key_column: str, columns: Sequence[str],
                tenant_id: uuid.UUID, rows: Sequence[Row]) -> None:
    """Set ``columns`` of the rows each of ``rows`` names by ``key_column``: one
    statement, the rows as one JSON array (as ``replace_rows``). A key without a row
    keeps having none."""
    if not rows:
        return
    assignments = ", ".join(f'"{column}" = fresh."{column}"' for column in columns)
    session.execute(text(
        f'UPDATE "{table.name}" AS t SET {assignments} '
        f'FROM jsonb_populate_recordset(NULL::"{table.name}", CAST(:rows AS jsonb)) fresh '
        f'WHERE t.tenant_id = :tenant AND t."{key_column}" = fresh."{key_column}"'),
        {"tenant": tenant_id, "rows": _rows_json(rows, tenant_id)})


def _rows_json(rows: Sequence[Row], tenant_id: uuid.UUID) -> str:
    return orjson.dumps([{**row, "tenant_id": tenant_id} for row in rows]).decode()


def refresh(model: ReadModel, table: Table, keys: Sequence[Key], reader: Reader) -> int:
    """Recompute ``keys`` into ``table``; returns the number of rows written."""
    rows = model.rows_for(keys, reader)
    replace_rows(reader.session, table, table.c[model.key_column], reader.tenant_id,
                 [model.key_value(key) for key in keys], rows)
    return len(rows)


def refresh_part(model: ReadModel, keys: Sequence[Key], reader: Reader) -> int:
    """Recompute ``model.part_columns`` of the live rows of ``keys``; returns how many
    keys. A key with no row yet is left to the event that creates it, which refreshes
    it whole; the rest of a row stays as the events that change it last left it."""
    rows = model.part_rows_for(keys, reader)
    update_rows(reader.session, model.table, model.key_column, model.part_columns,
                reader.tenant_id, rows)
    return len(rows)


# One row lock per (read model, tenant) for the whole apply: a rebuild's start and its
# swap take the same lock, so an apply is wholly before or wholly after either.
_TOUCH = text("""
INSERT INTO read_model_checkpoints AS c
       (tenant_id, read_model, last_event_id, last_event_at, applied_at, built_at)
VALUES (:tenant, :name, :event, :event_at, now(), now())
ON CONFLICT (tenant_id, read_model) DO UPDATE
   SET last_event_id = EXCLUDED.last_event_id, last_event_at = EXCLUDED.last_event_at,
       applied_at = now()
RETURNING c.rebuilding_since IS NOT NULL
""")
_NO_REQUEST_TIMEOUTS = text("SELECT set_config('statement_timeout', '0', true), "
                            "set_config('lock_timeout', '0', true)")
_REMEMBER = text("""
INSERT INTO read_model_pending_keys (tenant_id, read_model, key)
SELECT :tenant, :name, unnest(CAST(:keys AS text[]))
ON CONFLICT DO NOTHING
""")


def lift_request_timeouts(session: Session) -> None:
    """Lift the app role's statement and lock timeouts (migrations/0017, meant for
    requests) in this transaction, for the background work on read models: a rebuild's
    swap of a million rows, and the applies and rolls that wait on a checkpoint's lock
    while it runs (waiting beats failing and retrying)."""
    session.execute(_NO_REQUEST_TIMEOUTS)


def apply_batch(model: ReadModel, queries: QueryBus, envelopes: list[dict[str, Any]],
                uow: UnitOfWork) -> None:
    """Apply one tenant's delivered events: checkpoint, keys, recompute, write."""
    tenant_id = uow.acting_tenant
    last = envelopes[-1]
    lift_request_timeouts(uow.session)
    rebuilding = uow.session.execute(_TOUCH, {
        "tenant": tenant_id, "name": model.name, "event": last["id"],
        "event_at": last["occurred_at"]}).scalar_one()
    reader = Reader(uow.session, uow.context.principal, queries)
    whole = model.keys_of(envelopes, reader)
    part = model.part_keys_of(envelopes, reader) - whole
    if whole:
        refresh(model, model.table, sorted(whole), reader)
    if part:
        refresh_part(model, sorted(part), reader)
    if rebuilding and (whole or part):
        # The rebuild's copy was read before this change: it redoes these keys (whole).
        uow.session.execute(_REMEMBER, {"tenant": tenant_id, "name": model.name,
                                        "keys": sorted(whole | part)})


def subscriber_of(model: ReadModel, queries: QueryBus) -> BatchSubscriber:
    """The relay subscriber that keeps ``model``: a batch of its events at a time."""
    return BatchSubscriber(
        name=model.subscriber, event_types=model.event_types,
        react=lambda envelopes, uow: apply_batch(model, queries, envelopes, uow))


# Freshness ----------------------------------------------------------------------------

# Row-level security keeps every part to the asker's tenant. "Waiting" is an event the
# read model follows that is not delivered yet, or delivered and parked for it (failing
# or dead); a read model never filled for the tenant waits since its checkpoint exists.
FRESHNESS_SQL = f"""
SELECT now() AS fresh_now, pg_is_in_recovery() AS fresh_on_replica,
       ({REPLICA_BEHIND_SINCE_SQL}) AS fresh_replica_behind_since,
       (SELECT min(occurred_at) FROM outbox
         WHERE delivered_at IS NULL AND type = ANY(CAST(:fresh_types AS text[])))
         AS fresh_undelivered,
       (SELECT min(o.occurred_at) FROM parked_deliveries p
          JOIN outbox o ON o.tenant_id = p.tenant_id AND o.id = p.event_id
         WHERE p.subscriber = ANY(CAST(:fresh_subscribers AS text[]))) AS fresh_parked,
       (SELECT min(created_at) FROM read_model_checkpoints
         WHERE read_model = ANY(CAST(:fresh_names AS text[])) AND built_at IS NULL)
         AS fresh_unbuilt,
       (SELECT coalesce(bool_or(rebuilding_since IS NOT NULL), false)
          FROM read_model_checkpoints
         WHERE read_model = ANY(CAST(:fresh_names AS text[]))) AS fresh_rebuilding
"""


@dataclass(frozen=True)
class Freshness:
    """How far behind the commands a set of read models is, at one moment, as the server
    that answered sees it (a replica adds its own lag: what it has not replayed)."""

    now: datetime
    waiting_since: datetime | None  # commit time of the oldest change not yet applied
    rebuilding: bool
    on_replica: bool = False
    replica_behind_since: datetime | None = None  # its last replayed commit, when behind

    @property
    def status(self) -> str:
        """rebuilding, behind (something waits, or the replica lags) or current."""
        if self.rebuilding:
            return REBUILDING
        behind = self.waiting_since is not None or self.replica_behind_since is not None
        return BEHIND if behind else CURRENT

    @property
    def as_of(self) -> datetime:
        """Every change committed before this instant is reflected."""
        bounds = [t for t in (self.waiting_since, self.replica_behind_since) if t is not None]
        return min(bounds) if bounds else self.now

    @property
    def lag_seconds(self) -> float:
        """Age of the oldest change waiting (or not replayed); 0 when none waits."""
        return _seconds(self.now - self.as_of)

    @property
    def replica_lag_seconds(self) -> float:
        """How far the answering replica's replay is behind; 0 when it has replayed all."""
        if self.replica_behind_since is None:
            return 0.0
        return _seconds(self.now - self.replica_behind_since)

    def covers(self, written_at: datetime) -> bool:
        """Whether every change committed up to ``written_at`` is applied."""
        return self.waiting_since is None or self.waiting_since > written_at

    def to_json(self) -> dict[str, Any]:
        """The ``meta`` object of shared/API.md (from a replica: with its replay lag)."""
        meta: dict[str, Any] = {"as_of": self.as_of, "status": self.status,
                                "lag_seconds": self.lag_seconds}
        if self.on_replica:
            meta["replica_lag_seconds"] = self.replica_lag_seconds
        return meta


def _seconds(span: timedelta) -> float:
    return round(max(span / timedelta(seconds=1), 0.0), 3)


def freshness_params(models: Iterable[ReadModel]) -> dict[str, list[str]]:
    """The parameters FRESHNESS_SQL takes for ``models``."""
    models = list(models)
    return {"fresh_types": sorted({kind for m in models for kind in m.event_types}),
            "fresh_subscribers": [m.subscriber for m in models],
            "fresh_names": [m.name for m in models]}


def freshness_of(row: Any) -> Freshness:
    """Read a Freshness from a row that holds FRESHNESS_SQL's columns."""
    waiting = [t for t in (row.fresh_undelivered, row.fresh_parked, row.fresh_unbuilt)
               if t is not None]
    return Freshness(now=row.fresh_now, waiting_since=min(waiting) if waiting else None,
                     rebuilding=bool(row.fresh_rebuilding), on_replica=bool(row.fresh_on_replica),
                     replica_behind_since=row.fresh_replica_behind_since)


def with_freshness(page_sql: str) -> Any:
    """One statement: FRESHNESS_SQL's row, joined to every row of ``page_sql`` (or none).

    An answer and its ``meta`` then come from one statement and one snapshot; with no
    rows the freshness row is still there, its page columns NULL.
    """
    return text(f"WITH fresh AS ({FRESHNESS_SQL}) "
                f"SELECT fresh.*, page.* FROM fresh LEFT JOIN LATERAL ({page_sql}) page ON true")


def measure(session: Session, models: Iterable[ReadModel]) -> Freshness:
    """The freshness of ``models`` in the session's tenant, alone."""
    return freshness_of(session.execute(text(FRESHNESS_SQL), freshness_params(models)).one())


# Every tenant's figures, read by the relay's role (it sees all tenants' rows).
_GAUGES = text("""
SELECT (SELECT count(*) FROM outbox
         WHERE delivered_at IS NULL AND type = ANY(CAST(:types AS text[])))
     + (SELECT count(*) FROM parked_deliveries WHERE subscriber = :subscriber) AS backlog,
       extract(epoch FROM now() - least(
         (SELECT min(occurred_at) FROM outbox
           WHERE delivered_at IS NULL AND type = ANY(CAST(:types AS text[]))),
         (SELECT min(o.occurred_at) FROM parked_deliveries p
            JOIN outbox o ON o.tenant_id = p.tenant_id AND o.id = p.event_id
           WHERE p.subscriber = :subscriber))) AS lag_seconds,
       (SELECT extract(epoch FROM max(applied_at)) FROM read_model_checkpoints
         WHERE read_model = :name) AS applied
""")


@dataclass(frozen=True)
class ReadModelGauges:
    """A read model's figures across every tenant."""

    backlog: int
    lag_seconds: float
    last_applied: float | None  # Unix time


def gauges(conn: Connection, model: ReadModel) -> ReadModelGauges:
    """Backlog, lag and last apply of ``model`` over every tenant (the relay's role)."""
    row = conn.execute(_GAUGES, {"types": sorted(model.event_types),
                                 "subscriber": model.subscriber, "name": model.name}).one()
    return ReadModelGauges(backlog=row.backlog, lag_seconds=float(row.lag_seconds or 0.0),
                           last_applied=float(row.applied) if row.applied else None)
