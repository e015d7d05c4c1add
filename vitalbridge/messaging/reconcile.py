"""Comparing a read model with a recomputation from the command tables, and repairing it.

The comparison walks the keys in pages (memory stays flat): each page holds the next
keys the command tables have and every live key up to the last of them, and compares
the live rows of those keys with what the read model computes for them now, in one
REPEATABLE READ snapshot (the live rows and the owners' answers of the same moment).

A difference can be mere lag: an event committed but not applied yet. So a key that
differs is looked at again once the read model has applied every event committed before
the first look (waiting up to ``settle_seconds``); only what still differs is reported.
A repair recomputes the keys into the live table under the checkpoint's row lock, as an
apply does, so it is wholly before or after any apply; a tenant being rebuilt is left to
its rebuild.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Text, func, select, text
from sqlalchemy.orm import Session

from vitalbridge.db import Database, among, set_tenant
from vitalbridge.messaging.bus import QueryBus
from vitalbridge.messaging.messages import Principal
from vitalbridge.messaging.read_models import (
    Key,
    Reader,
    ReadModel,
    lift_request_timeouts,
    measure,
    refresh,
)

PAGE_SIZE = 1000
MISSING, EXTRA, DIFFERS = "missing", "extra", "differs"

_SNAPSHOT = text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
_LOCK_CHECKPOINT = text("""
SELECT rebuilding_since IS NOT NULL FROM read_model_checkpoints
 WHERE tenant_id = :tenant AND read_model = :name FOR UPDATE
""")


@dataclass(frozen=True)
class RowDrift:
    """A key whose live rows are not what the command tables say."""

    key: Key
    kind: str  # missing, extra or differs
    columns: tuple[str, ...] = ()  # the columns that differ (names only, never values)

    @property
    def detail(self) -> str:
        """What is wrong, without any value (no PHI)."""
        if self.kind != DIFFERS:
            return f"row {self.kind}"
        return "row differs in " + ", ".join(self.columns)


@dataclass(frozen=True)
class ReadModelCheck:
    """Compares one read model of one tenant with a recomputation."""

    db: Database
    queries: QueryBus
    model: ReadModel
    tenant_id: uuid.UUID
    settle_seconds: float = 10.0
    page_size: int = PAGE_SIZE

    def drift(self, sample: int | None = None) -> list[RowDrift]:
        """Every drifted key (or among ``sample`` random live keys), confirmed."""
        started = self._clock()
        keys = self._sampled(sample) if sample else None
        pages = [keys] if keys is not None else self._pages()
        suspects = [drift for page in pages for drift in self._compare(page)]
        if not suspects:
            return []
        self._settle(started)
        return self._compare([drift.key for drift in suspects])

    def repair(self, keys: Sequence[Key]) -> bool:
        """Recompute ``keys`` into the live rows; False when a rebuild is under way."""
        with self._transaction() as session:
            rebuilding = session.scalar(_LOCK_CHECKPOINT, {"tenant": self.tenant_id,
                                                           "name": self.model.name})
            if rebuilding:
                return False
            for start in range(0, len(keys), self.page_size):
                refresh(self.model, self.model.table, keys[start:start + self.page_size],
                        self._reader(session))
        return True

    # Walking the keys ------------------------------------------------------------------

    def _pages(self) -> Iterator[list[Key]]:
        after: Key | None = None
        while True:
            with self._transaction() as session:
                owned = self.model.key_page(self._reader(session), after, self.page_size)
                last = owned[-1] if len(owned) == self.page_size else None
                live = self._live_keys(session, after, last)
            page = sorted(set(owned) | set(live))
            if page:
                yield page
            if last is None:
                return
            after = last

    def _live_keys(self, session: Session, after: Key | None, upto: Key | None) -> list[Key]:
        column = self._key_column()
        query = select(column).distinct().where(self.model.table.c.tenant_id == self.tenant_id)
        if after is not None:
            query = query.where(column > self.model.key_value(after))
        if upto is not None:
            query = query.where(column <= self.model.key_value(upto))
        return [str(value) for value in session.scalars(query)]

    def _key_column(self) -> Any:
        column = self.model.table.c[self.model.key_column]
        # Text keys compare byte by byte, as Python orders the pages' keys.
        return column.collate("C") if isinstance(column.type, Text) else column

    def _sampled(self, count: int) -> list[Key]:
        """Up to ``count`` random keys the live table holds (a missing row is found by a
        full pass only)."""
        column = self.model.table.c[self.model.key_column]
        with self._transaction() as session:
            return sorted({str(value) for value in session.scalars(
                select(column).where(self.model.table.c.tenant_id == self.tenant_id)
                .order_by(func.random()).limit(count))})

    # Comparing -------------------------------------------------------------------------

    def _compare(self, keys: Sequence[Key]) -> list[RowDrift]:
        if not keys:
            return []
        with self._transaction(snapshot=True) as session:
            reader = self._reader(session)
            keys = self.model.reconciled_keys(keys, reader)
            now = session.scalar(select(func.clock_timestamp()))
            live = self._grouped(self._live_rows(session, keys), now)
            wanted = self._grouped(self.model.rows_for(keys, reader), now)
        return [drift for key in keys
                if (drift := _drift(key, live.get(key), wanted.get(key))) is not None]

    def _live_rows(self, session: Session, keys: Sequence[Key]) -> list[dict[str, Any]]:
        table = self.model.table
        values = [self.model.key_value(key) for key in keys]
        return [dict(row) for row in session.execute(select(table).where(
            table.c.tenant_id == self.tenant_id,
            among(table.c[self.model.key_column], values))).mappings()]

    def _grouped(self, rows: list[dict[str, Any]],
                 now: Any) -> dict[Key, dict[str, dict[str, Any]]]:
        grouped: dict[Key, dict[str, dict[str, Any]]] = {}
        pk = [c.name for c in self.model.table.primary_key.columns if c.name != "tenant_id"]
        for row in rows:
            key = str(row[self.model.key_column])
            grouped.setdefault(key, {})["|".join(str(row[c]) for c in pk)] = \
                self.model.comparable(row, now)
        return grouped

    # Sessions --------------------------------------------------------------------------

    def _settle(self, since: datetime) -> None:
        """Wait until every event committed before ``since`` is applied (or time is up)."""
        deadline = time.monotonic() + self.settle_seconds
        while True:
            with self._transaction() as session:
                if measure(session, [self.model]).covers(since):
                    return
            if time.monotonic() >= deadline:
                return
            time.sleep(0.2)

    def _clock(self) -> datetime:
        with self._transaction() as session:
            return session.scalar(select(func.clock_timestamp()))  # type: ignore[return-value]

    def _reader(self, session: Session) -> Reader:
        return Reader(session, Principal.system(self.tenant_id), self.queries)

    @contextmanager
    def _transaction(self, snapshot: bool = False) -> Iterator[Session]:
        with self.db.sessions() as session, session.begin():
            if snapshot:
                session.execute(_SNAPSHOT)  # before any other statement of the transaction
            set_tenant(session, self.tenant_id)
            lift_request_timeouts(session)  # a background job, not a request
            yield session


def _drift(key: Key, live: dict[str, dict[str, Any]] | None,
           wanted: dict[str, dict[str, Any]] | None) -> RowDrift | None:
    if live == wanted:
        return None
    if not live:
        return RowDrift(key, MISSING)
    if not wanted:
        return RowDrift(key, EXTRA)
    columns = sorted({column for row_key in set(live) | set(wanted)
                      for column in _columns_of(live.get(row_key), wanted.get(row_key))})
    return RowDrift(key, DIFFERS, tuple(columns))


def _columns_of(live: dict[str, Any] | None, wanted: dict[str, Any] | None) -> set[str]:
    if live is None or wanted is None:
        return {"rows"}  # a key with rows in several zones, one of them missing or extra
    return {column for column in set(live) | set(wanted) if live.get(column) != wanted.get(column)}
