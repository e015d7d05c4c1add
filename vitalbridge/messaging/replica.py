"""Read your writes across a streaming replica, and how far behind the replica is.

The model is GitLab's database load balancing: after a write, remember the primary's WAL
position; read a replica only once it has replayed past it, else read the primary.
Here the position travels in the reply's Consistency-Token (so the client, not a
server-side session, carries it), and a query sent with the token reads the replica once
``pg_last_wal_replay_lsn()`` is at or past it, waiting for that until the request's
deadline (``Prefer: wait``); then its reads go to the primary, or the request is refused
503 not-yet-consistent (REPLICA_CATCH_UP_FALLBACK=503).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from vitalbridge.db import scalar_between_transactions

log = logging.getLogger(__name__)

# The position a reader must see replayed to see what is committed now. With synchronous
# commit (PostgreSQL's default; the app never turns it off) a commit returns, and becomes
# visible, only once its record is written, so the write position is at or past every
# visible commit, in the same end-of-record form as the replica's replay position. The
# insert position covers asynchronous commits too, but on a page boundary it names the
# byte after the next page's header, which an idle replica never replays to.
WAL_POSITION_SQL = """
(CASE WHEN current_setting('synchronous_commit') = 'off'
      THEN pg_current_wal_insert_lsn() ELSE pg_current_wal_lsn() END)::text
"""
_WAL_POSITION = f"SELECT {WAL_POSITION_SQL}"
_REPLAYED = "SELECT coalesce(pg_last_wal_replay_lsn() >= CAST(%(lsn)s AS pg_lsn), false)"
FIRST_PAUSE, LONGEST_PAUSE = 0.01, 0.2  # seconds between replay checks, doubling

# Since when a replica's answers lag: NULL on the primary, and on a replica that has
# replayed all it received. Else the commit time of the last transaction it replayed
# (every change committed before it is there); none replayed since it started: unknown,
# counted from now.
REPLICA_BEHIND_SINCE_SQL = """
CASE WHEN pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()
     THEN coalesce(pg_last_xact_replay_timestamp(), now()) END
"""
_STATE = text(f"""
SELECT pg_is_in_recovery() AS in_recovery,
       pg_last_wal_receive_lsn()::text AS received_lsn,
       pg_last_wal_replay_lsn()::text AS replayed_lsn,
       CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() END AS replay_paused,
       extract(epoch FROM now() - ({REPLICA_BEHIND_SINCE_SQL})) AS lag_seconds
""")


@dataclass
class ReplicaDemand:
    """What a request that carries a Consistency-Token asks of the replica, for every
    read of the request (the first decision to read the primary holds for the rest)."""

    lsn: str | None  # replayed at least this far; None (not known): read the primary
    deadline: float  # time.monotonic() until which a read may wait for the replica
    refuse: bool  # past the deadline: 503 not-yet-consistent instead of the primary
    on_primary: bool = False

    def __post_init__(self) -> None:
        if self.lsn is None:
            self.on_primary = True

    def raise_to(self, lsn: str | None) -> None:
        """Ask the replica to have replayed ``lsn`` too (what the read models wrote)."""
        if lsn is not None and self.lsn is not None and lsn_value(lsn) > lsn_value(self.lsn):
            self.lsn = lsn


def lsn_value(lsn: str) -> int:
    """A ``pg_lsn`` text ("16/B374D848") as the byte position it names."""
    high, _, low = lsn.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


def commit_position(connection: Connection) -> str | None:
    """The WAL position just after a COMMIT on ``connection``: at or past its record.

    Taken on the same connection, before it goes back to the pool. The command has
    committed whatever happens here, so a failure costs the token its position (its
    queries then read the primary), never the command.
    """
    try:
        value = scalar_between_transactions(connection, _WAL_POSITION)
    except (psycopg.Error, RuntimeError) as error:
        log.warning("could not read the commit's WAL position: %s", type(error).__name__)
        return None
    return str(value) if value is not None else None


def position_now(session: Session) -> str:
    """The primary's WAL position now, in ``session``'s transaction: past every commit its
    snapshot sees (what a read model's wait found applied)."""
    return str(session.scalar(text(_WAL_POSITION)))


def has_replayed(connection: Connection, lsn: str) -> bool:
    """Whether the replica behind ``connection`` has replayed ``lsn``; asked outside a
    transaction, so that the snapshot of the next one has what it replayed."""
    return bool(scalar_between_transactions(connection, _REPLAYED, {"lsn": lsn}))


def replica_state(engine: Engine) -> dict[str, Any]:
    """The replica as GET /sync-status shows it: reachable, positions, paused, lag."""
    try:
        with engine.connect() as conn:
            row = conn.execute(_STATE).one()
    except SQLAlchemyError as error:
        log.warning("replica unreachable: %s", type(error).__name__)
        return {"reachable": False, "lag_seconds": None}
    return {"reachable": True, "in_recovery": row.in_recovery,
            "received_lsn": row.received_lsn, "replayed_lsn": row.replayed_lsn,
            "replay_paused": row.replay_paused,
            "lag_seconds": round(max(float(row.lag_seconds), 0.0), 3)
            if row.lag_seconds is not None else 0.0}
