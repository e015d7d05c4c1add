"""Rebuilding a read model from the command tables, without stopping its answers.

Events are purged after OUTBOX_RETENTION_DAYS, so a rebuild never replays them: it
recomputes every key the command tables hold into the staging table, a page at a time,
while the relay goes on keeping the live table and queries go on reading it (their
``meta`` says ``rebuilding``). Then one transaction swaps the staging rows in.

Nothing committed during the rebuild is lost. Starting takes the checkpoint's row lock,
which every apply holds for its whole transaction, so each apply is wholly before the
start (and the pages, read later, see its changes) or wholly after it; those after
record the keys they refreshed. The swap takes the same lock, recomputes those keys
into the staging table (so they are current as of the swap) and replaces the live rows.
An apply after the swap writes the new live rows as usual.

Only one rebuild of a read model runs at a time: a session advisory lock per read model
elects it, and a second one refuses at once.
"""

from __future__ import annotations

import time
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from vitalbridge.db import Database, set_tenant
from vitalbridge.messaging.bus import QueryBus
from vitalbridge.messaging.messages import Principal
from vitalbridge.messaging.read_models import Reader, ReadModel, lift_request_timeouts, refresh

PAGE_SIZE = 1000
_LOCK_NAMESPACE = 0x76_62_72_6D  # "vbrm": the advisory locks of read-model rebuilds

_START = text("""
INSERT INTO read_model_checkpoints AS c (tenant_id, read_model, rebuilding_since)
VALUES (:tenant, :name, clock_timestamp())
ON CONFLICT (tenant_id, read_model) DO UPDATE SET rebuilding_since = clock_timestamp()
""")
_FORGET_PENDING = text("""
DELETE FROM read_model_pending_keys WHERE tenant_id = :tenant AND read_model = :name
RETURNING key
""")
_LOCK_CHECKPOINT = text("""
SELECT 1 FROM read_model_checkpoints
 WHERE tenant_id = :tenant AND read_model = :name FOR UPDATE
""")
_FINISH = text("""
UPDATE read_model_checkpoints
   SET rebuilding_since = NULL, built_at = coalesce(built_at, clock_timestamp()),
       last_rebuild_at = clock_timestamp(), last_rebuild_seconds = :seconds,
       last_rebuild_rows = :rows
 WHERE tenant_id = :tenant AND read_model = :name
""")
_ABANDON = text("""
UPDATE read_model_checkpoints SET rebuilding_since = NULL
 WHERE tenant_id = :tenant AND read_model = :name
""")


class RebuildRunning(RuntimeError):
    """Another rebuild of the same read model is under way."""


@dataclass(frozen=True)
class RebuildReport:
    """What one tenant's rebuild did."""

    tenant_id: uuid.UUID
    rows: int
    keys: int
    late_keys: int  # refreshed by the relay while it ran, recomputed at the swap
    seconds: float


@contextmanager
def exclusive(db: Database, model: ReadModel) -> Iterator[None]:
    """Hold the read model's rebuild lock for the block, or raise RebuildRunning."""
    key = _LOCK_NAMESPACE << 32 | zlib.crc32(model.name.encode())
    with db.engine.connect() as conn:
        got = conn.exec_driver_sql("SELECT pg_try_advisory_lock(%s)", (key,)).scalar()
        conn.commit()
        if not got:
            raise RebuildRunning(f"a rebuild of {model.name} is already running")
        try:
            yield
        finally:
            conn.exec_driver_sql("SELECT pg_advisory_unlock(%s)", (key,))
            conn.commit()


def rebuild_tenant(db: Database, queries: QueryBus, model: ReadModel,
                   tenant_id: uuid.UUID, page_size: int = PAGE_SIZE) -> RebuildReport:
    """Rebuild ``model`` for one tenant (the caller holds ``exclusive``)."""
    began = time.monotonic()
    params = {"tenant": tenant_id, "name": model.name}
    with _transaction(db, tenant_id) as session:
        session.execute(_START, params)
        session.execute(_FORGET_PENDING, params)
        _clear_staging(session, model, tenant_id)
    try:
        keys = _fill_staging(db, queries, model, tenant_id, page_size)
        rows, late = _swap(db, queries, model, tenant_id, time.monotonic() - began)
    except BaseException:
        with _transaction(db, tenant_id) as session:
            session.execute(_ABANDON, params)
            _clear_staging(session, model, tenant_id)
        raise
    return RebuildReport(tenant_id=tenant_id, rows=rows, keys=keys, late_keys=late,
                         seconds=round(time.monotonic() - began, 3))


def _fill_staging(db: Database, queries: QueryBus, model: ReadModel, tenant_id: uuid.UUID,
                  page_size: int) -> int:
    """Recompute every key into the staging table, one transaction per page."""
    after, keys = None, 0
    while True:
        with _transaction(db, tenant_id) as session:
            reader = _reader(session, queries, tenant_id)
            page = model.key_page(reader, after, page_size)
            if not page:
                return keys
            refresh(model, model.staging, page, reader)
        keys += len(page)
        after = page[-1]


def _swap(db: Database, queries: QueryBus, model: ReadModel, tenant_id: uuid.UUID,
          seconds: float) -> tuple[int, int]:
    """Recompute the late keys, then replace the live rows with the staging rows."""
    params = {"tenant": tenant_id, "name": model.name}
    live, staging = model.table.name, model.staging.name
    with _transaction(db, tenant_id) as session:
        session.execute(_LOCK_CHECKPOINT, params)  # no apply runs until the swap commits
        late = sorted(session.execute(_FORGET_PENDING, params).scalars())
        if late:
            refresh(model, model.staging, late, _reader(session, queries, tenant_id))
        session.execute(text(f'DELETE FROM "{live}" WHERE tenant_id = :tenant'), params)
        rows = session.execute(text(
            f'INSERT INTO "{live}" SELECT * FROM "{staging}" WHERE tenant_id = :tenant'),
            params).rowcount  # type: ignore[attr-defined]
        _clear_staging(session, model, tenant_id)
        model.on_rebuilt(session, tenant_id)
        session.execute(_FINISH, {**params, "seconds": round(seconds, 3), "rows": rows})
    return rows, len(late)


def _clear_staging(session: Session, model: ReadModel, tenant_id: uuid.UUID) -> None:
    session.execute(text(f'DELETE FROM "{model.staging.name}" WHERE tenant_id = :tenant'),
                    {"tenant": tenant_id})


def _reader(session: Session, queries: QueryBus, tenant_id: uuid.UUID) -> Reader:
    return Reader(session, Principal.system(tenant_id), queries)


@contextmanager
def _transaction(db: Database, tenant_id: uuid.UUID) -> Iterator[Session]:
    with db.sessions() as session, session.begin():
        set_tenant(session, tenant_id)
        lift_request_timeouts(session)  # an operator's long job
        yield session
