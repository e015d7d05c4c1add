"""What GET /sync-status and ``flask read-models status`` tell: each read model's state
in a tenant, and the relay's backlog there."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text

from vitalbridge.messaging.bus import ReadContext
from vitalbridge.messaging.messages import Query
from vitalbridge.messaging.read_models import (
    FRESHNESS_SQL,
    Freshness,
    ReadModel,
    freshness_of,
    freshness_params,
)

_STATE = text(f"""
WITH fresh AS ({FRESHNESS_SQL})
SELECT fresh.*, c.last_event_id, c.last_event_at, c.applied_at, c.built_at,
       c.rebuilding_since, c.created_at AS checkpoint_created_at, c.last_rebuild_at,
       c.last_rebuild_seconds, c.last_rebuild_rows,
       (SELECT count(*) FROM outbox
         WHERE delivered_at IS NULL AND type = ANY(CAST(:fresh_types AS text[])))
       + (SELECT count(*) FROM parked_deliveries
           WHERE subscriber = ANY(CAST(:fresh_subscribers AS text[]))) AS backlog
  FROM fresh LEFT JOIN read_model_checkpoints c ON c.read_model = :name
""")
_RELAY = text("""
SELECT count(*) AS backlog,
       coalesce(extract(epoch FROM now() - min(occurred_at)), 0) AS oldest_seconds
  FROM outbox WHERE delivered_at IS NULL
""")


@dataclass(frozen=True, kw_only=True)
class SyncStatus(Query):
    """The state of ``read_models`` and of the relay in the asker's tenant."""

    read_models: tuple[ReadModel, ...]


@dataclass(frozen=True)
class ReadModelState:
    """One read model in one tenant."""

    name: str
    freshness: Freshness
    backlog: int  # events it follows not applied yet (undelivered, or parked for it)
    checkpoint: dict[str, Any]  # last event applied, rebuild times (None: never built)


@dataclass(frozen=True)
class SyncState:
    """The answer to SyncStatus."""

    read_models: list[ReadModelState]
    relay_backlog: int
    relay_oldest_seconds: float
    as_of: datetime

    def to_json(self) -> dict[str, Any]:
        """What GET /sync-status answers (and ``flask read-models status --json`` prints)."""
        return {
            "read_models": [{"name": s.name, **s.freshness.to_json(), "backlog": s.backlog,
                             **s.checkpoint} for s in self.read_models],
            "relay": {"backlog": self.relay_backlog,
                      "oldest_seconds": self.relay_oldest_seconds},
            "replica": None,
            "as_of": self.as_of,
        }


def sync_status(query: SyncStatus, ctx: ReadContext) -> SyncState:
    """One statement per read model and one for the relay (row-level security: the tenant)."""
    states = [_state(model, ctx) for model in query.read_models]
    relay = ctx.session.execute(_RELAY).one()
    now = states[0].freshness.now if states else ctx.session.scalar(text("SELECT now()"))
    return SyncState(read_models=states, relay_backlog=relay.backlog,
                     relay_oldest_seconds=round(float(relay.oldest_seconds), 3), as_of=now)


def _state(model: ReadModel, ctx: ReadContext) -> ReadModelState:
    row = ctx.session.execute(_STATE, {**freshness_params([model]), "name": model.name}).one()
    checkpoint = {
        "last_event": {"id": row.last_event_id, "committed_at": row.last_event_at,
                       "applied_at": row.applied_at} if row.last_event_id else None,
        "built_at": row.built_at, "rebuilding_since": row.rebuilding_since,
        # A checkpoint that exists unbuilt: a migration added the read model to a tenant
        # that had data (no checkpoint at all: nothing happened in the tenant yet).
        "needs_rebuild": row.checkpoint_created_at is not None and row.built_at is None,
        "last_rebuild": {"at": row.last_rebuild_at, "seconds": row.last_rebuild_seconds,
                         "rows": row.last_rebuild_rows} if row.last_rebuild_at else None,
    }
    return ReadModelState(name=model.name, freshness=freshness_of(row), backlog=row.backlog,
                          checkpoint=checkpoint)


QUERY_HANDLERS = {SyncStatus: sync_status}
