"""The outbox relay: delivers committed events to subscribers, in commit order.

It never follows a seq cursor: a transaction that took a lower seq can commit after
one with a higher seq, and a cursor would step over it for good. Instead each pass
takes the undelivered rows (by state) in seq order. Events of one aggregate are
written by transactions that lock that aggregate's row, so their seq order is their
commit order. One relay at a time is active (a session advisory lock elects it), so
two relay processes never deliver the same batch or reorder an aggregate.

NOTIFY only wakes the relay; the table is the truth, and a poll catches any wake-up
that was missed.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import psycopg
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from vitalbridge.messaging.signals import EventSignals
from vitalbridge.messaging.uow import OUTBOX_CHANNEL

log = logging.getLogger(__name__)

RELAY_LOCK_KEY = 0x76_62_6F_78  # "vbox": the advisory lock that elects the active relay
STOP_CHECK_SECONDS = 0.5  # how soon a stop request is noticed while waiting

_CLAIM_BATCH = text("""
SELECT tenant_id, id, envelope FROM outbox
 WHERE delivered_at IS NULL
 ORDER BY seq
 LIMIT :limit
 FOR UPDATE SKIP LOCKED
""")
_MARK_DELIVERED = text("""
UPDATE outbox SET delivered_at = now(), attempts = attempts + 1, last_error = NULL
 WHERE tenant_id = :tenant AND id = :id
""")
_MARK_FAILED = text("""
UPDATE outbox SET attempts = attempts + 1, last_error = :error
 WHERE tenant_id = :tenant AND id = :id
""")


@dataclass
class Relay:
    """Moves events from the outbox table to the in-process subscribers."""

    engine: Engine
    signals: EventSignals
    batch_size: int = 200
    poll_seconds: float = 1.0

    def deliver_batch(self) -> int:
        """Deliver up to one batch in seq order; stop at the first failure. Returns count."""
        delivered = 0
        with self.engine.begin() as conn:
            for row in conn.execute(_CLAIM_BATCH, {"limit": self.batch_size}):
                keys = {"tenant": row.tenant_id, "id": row.id}
                try:
                    self.signals.send(row.envelope)
                except Exception as failure:
                    log.exception("delivery failed", extra={"event_id": str(row.id)})
                    conn.execute(_MARK_FAILED, {**keys, "error": repr(failure)[:2000]})
                    break  # a later event of the same aggregate must not overtake it
                conn.execute(_MARK_DELIVERED, keys)
                delivered += 1
        return delivered

    def drain(self) -> int:
        """Deliver until nothing deliverable is left (or a delivery fails)."""
        total = 0
        while (count := self.deliver_batch()) == self.batch_size:
            total += count
        return total + count

    def run(self, stop: threading.Event) -> None:
        """Run until ``stop`` is set: hold the relay lock, then drain, wait, repeat."""
        url = make_url(self.engine.url).set(drivername="postgresql")
        dsn = url.render_as_string(hide_password=False)
        with psycopg.connect(dsn, autocommit=True) as listener:
            self._wait_for_leadership(listener, stop)
            listener.execute(f"LISTEN {OUTBOX_CHANNEL}")
            while not stop.is_set():
                delivered = self.drain()
                if delivered:
                    log.info("outbox delivered", extra={"count": delivered})
                self._wait_for_wakeup(listener, stop)

    def _wait_for_wakeup(self, listener: psycopg.Connection, stop: threading.Event) -> None:
        """Return on a NOTIFY, on ``stop``, or when the poll interval has passed."""
        deadline = time.monotonic() + self.poll_seconds
        while not stop.is_set() and time.monotonic() < deadline:
            slice_ = min(STOP_CHECK_SECONDS, max(deadline - time.monotonic(), 0.0))
            if any(True for _ in listener.notifies(timeout=slice_, stop_after=1)):
                return

    def _wait_for_leadership(self, listener: psycopg.Connection, stop: threading.Event) -> None:
        while not stop.is_set():
            locked = listener.execute("SELECT pg_try_advisory_lock(%s)", (RELAY_LOCK_KEY,))
            row = locked.fetchone()
            if row is not None and row[0]:
                log.info("relay is active")
                return
            stop.wait(self.poll_seconds)
