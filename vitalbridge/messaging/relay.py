"""The outbox relay: delivers committed events to each subscriber, in commit order.

It never follows a seq cursor: a transaction that took a lower seq can commit after
one with a higher seq, and a cursor would step over it for good. Each pass takes the
undelivered rows (by state) in seq order instead. Events of one aggregate are written
by transactions that lock that aggregate's row, so their seq order is their commit
order. One relay at a time is active (a session advisory lock elects it), so two relay
processes never deliver the same event at once or reorder an aggregate.

Delivery is per subscriber. When a subscriber fails, the event is parked for that
subscriber alone (retried with backoff, dead-lettered after the last attempt), and its
later events of the same aggregate queue behind it; everything else keeps flowing.
Delivering assigns the event its tenant's next feed position, gap-free.

The batch subscribers (the read models) take a batch side by side, each on a worker
thread with its own transaction: each writes only its own tables, and while PostgreSQL
works for one, Python works for another. The other subscribers (reactions that send
commands, the broker's publisher) take it one after another on the relay's thread, as
before. Either way each subscriber gets the batches in order, one at a time.

NOTIFY only wakes the relay; the table is the truth, and a poll catches any wake-up
that was missed.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

import psycopg
from sqlalchemy import Engine

from vitalbridge.messaging import metrics, parking, read_models
from vitalbridge.messaging.errors import failure_summary
from vitalbridge.messaging.leadership import leadership
from vitalbridge.messaging.read_models import ReadModel
from vitalbridge.messaging.signals import EventSignals
from vitalbridge.messaging.subscribers import BLOCKED
from vitalbridge.messaging.uow import OUTBOX_CHANNEL

log = logging.getLogger(__name__)

RELAY_LOCK_KEY = 0x76_62_6F_78  # "vbox": the advisory lock that elects the active relay
STOP_CHECK_SECONDS = 0.5  # how soon a stop request is noticed while waiting
# The backlog gauges (five statements) at most this often: under steady load the relay
# wakes for every few events, and the gauges would cost more than the deliveries.
OBSERVE_EVERY_SECONDS = 1.0
# A running relay's delivery passes start at most this often by default (Relay._serve).
PASS_SECONDS = 0.1
# ...and look for parked deliveries due again at most this often (backoff starts at 1 s).
RETRY_CHECK_SECONDS = 0.5


class RelayBusy(RuntimeError):
    """Another relay holds the relay lock; only one may deliver at a time."""


@dataclass(frozen=True)
class _Parking:
    """A row to park for a subscriber once its deliveries of the batch are done."""

    row: Any
    error: str | None
    attempts: int
    delay: float


@dataclass
class Relay:
    """Moves events from the outbox table to the in-process subscribers."""

    engine: Engine
    signals: EventSignals
    batch_size: int = 200
    poll_seconds: float = 1.0
    pass_seconds: float = PASS_SECONDS
    retry: parking.RetryPolicy = field(default_factory=parking.RetryPolicy)
    read_models: tuple[ReadModel, ...] = ()  # whose lag the metrics show

    def drain(self) -> int:
        """Take the relay lock, deliver everything deliverable now, return the count."""
        with self._leadership(wait=None) as leader:
            if not leader:
                raise RelayBusy("another relay is active")
            with self._workers() as workers:
                return self._drain(workers)

    def run(self, stop: threading.Event) -> None:
        """Run until ``stop`` is set: become the active relay, then drain, wait, repeat."""
        with self._leadership(wait=stop) as listener:
            if listener is None:
                return
            listener.execute(f"LISTEN {OUTBOX_CHANNEL}")
            with self._workers() as workers:
                self._serve(listener, stop, workers)

    def _serve(self, listener: psycopg.Connection, stop: threading.Event,
               workers: ThreadPoolExecutor) -> None:
        observed_at = retried_at = drained_at = -OBSERVE_EVERY_SECONDS
        while not stop.is_set():
            # Under steady load every commit wakes the relay: passes at most every
            # pass_seconds let the events of that time share one batch (one transaction
            # per read model), for at most that much more latency. A pass costs much
            # the same for 2 events as for 20: at 200 bookings a second, passes every
            # 20 ms took a fifth of this machine's two CPUs, every 100 ms a fourteenth.
            time.sleep(max(drained_at + self.pass_seconds - time.monotonic(), 0.0))
            drained_at = time.monotonic()
            retry = drained_at - retried_at >= RETRY_CHECK_SECONDS
            retried_at = drained_at if retry else retried_at
            if delivered := self._drain(workers, retry=retry):
                log.info("outbox delivered", extra={"count": delivered})
            if time.monotonic() - observed_at >= OBSERVE_EVERY_SECONDS:
                self._observe_backlog()
                observed_at = time.monotonic()
            self._wait_for_wakeup(listener, stop)

    @contextlib.contextmanager
    def _workers(self) -> Iterator[ThreadPoolExecutor]:
        """A thread per batch subscriber, for the time this relay delivers."""
        batched = [name for name in self.signals.names() if self.signals.batched(name)]
        pool = ThreadPoolExecutor(max_workers=max(len(batched), 1),
                                  thread_name_prefix="relay-batch-subscriber")
        try:
            yield pool
        finally:
            pool.shutdown(wait=True)

    def _drain(self, workers: ThreadPoolExecutor, *, retry: bool = True) -> int:
        total = 0
        while True:
            delivered = self._deliver_batch(workers)
            retried = self._retry_due() if retry else 0
            total += delivered
            if delivered < self.batch_size and not retried:
                return total

    def _deliver_batch(self, workers: ThreadPoolExecutor) -> int:
        with self.engine.begin() as conn:
            rows = parking.claim_undelivered(conn, self.batch_size)
            subscribers = self._subscribers_of(rows)
            blocked = {name: parking.blocked_lanes(conn, name) for name in subscribers}
            parkings = self._deliver_all(rows, blocked, workers,
                                         meanwhile=lambda: parking.mark_delivered(conn, rows))
            for name in subscribers:
                for stay in parkings[name]:
                    parking.park(conn, name, stay.row, error=stay.error,
                                 attempts=stay.attempts, delay=stay.delay)
        unsubscribed = sum(not self.signals.subscribers(row.type) for row in rows)
        if unsubscribed:  # counted once their delivery is committed
            metrics.DELIVERED.labels(metrics.NO_SUBSCRIBER).inc(unsubscribed)
        return len(rows)

    def _deliver_all(self, rows: Sequence[Any], blocked: dict[str, set[tuple[Any, Any]]],
                     workers: ThreadPoolExecutor,
                     meanwhile: Callable[[], None]) -> dict[str, list[_Parking]]:
        """Deliver a batch to each subscriber (``blocked`` names them): the batch
        subscribers on the workers, side by side; the others on this thread, one after
        another, since they may send commands that touch the same rows or hold a client
        meant for one thread. ``meanwhile`` (the relay's own writes, in its transaction)
        runs on this thread while the workers work: nothing it writes is seen before the
        relay commits, after every delivery."""
        aside = {name: workers.submit(self._deliver_to, name, rows, lanes)
                 for name, lanes in blocked.items() if self.signals.batched(name)}
        meanwhile()
        parkings = {name: self._deliver_to(name, rows, lanes)
                    for name, lanes in blocked.items() if name not in aside}
        return parkings | {name: future.result() for name, future in aside.items()}

    def _subscribers_of(self, rows: Sequence[Any]) -> list[str]:
        names: dict[str, None] = {}
        for kind in dict.fromkeys(row.type for row in rows):
            names.update(dict.fromkeys(self.signals.subscribers(kind)))
        return list(names)

    def _deliver_to(self, subscriber: str, rows: Sequence[Any],
                    blocked: set[tuple[Any, Any]]) -> list[_Parking]:
        """Deliver a batch to one subscriber in seq order; returns what must be parked
        (the relay's connection parks it, on the relay's thread)."""
        parkings: list[_Parking] = []
        mine = [row for row in rows if subscriber in self.signals.subscribers(row.type)]
        # Runs of one signal keep seq order for subscribers of several types; a batch
        # subscriber (a read model) has one signal for all of its types.
        for _lane, run_rows in groupby(mine, key=lambda row: self.signals.lane(subscriber,
                                                                              row.type)):
            run = list(run_rows)
            event_type = run[0].type
            ready = []
            for row in run:
                if (row.tenant_id, row.aggregate_id) in blocked:
                    parkings.append(_Parking(row, error=None, attempts=0, delay=0.0))
                else:
                    ready.append(row)
            outcomes = self._try(subscriber, event_type, [row.envelope for row in ready])
            for row in ready:
                outcome = outcomes.get(str(row.id), "the subscriber gave no outcome")
                if outcome is None:
                    continue
                blocked.add((row.tenant_id, row.aggregate_id))
                failed = outcome != BLOCKED
                parkings.append(_Parking(row, error=outcome if failed else None,
                                         attempts=int(failed),
                                         delay=self.retry.delay(1) if failed else 0.0))
        return parkings

    def _retry_due(self) -> int:
        """Retry the parked deliveries whose time has come; returns how many succeeded."""
        succeeded = 0
        with self.engine.begin() as conn:
            for entry in parking.due(conn, self.batch_size, self.signals.names()):
                envelope = entry.envelope
                outcomes = self._try(entry.subscriber, envelope["type"], [envelope])
                error = outcomes.get(envelope["id"], "the subscriber gave no outcome")
                if error is None:
                    parking.release(conn, entry)
                    succeeded += 1
                else:
                    parking.record_failure(conn, entry, error, self._policy(entry.subscriber))
        return succeeded

    def _policy(self, subscriber: str) -> parking.RetryPolicy:
        if self.signals.retries_forever(subscriber):
            return replace(self.retry, max_attempts=sys.maxsize)
        return self.retry

    def _try(self, subscriber: str, event_type: str,
             envelopes: list[dict[str, Any]]) -> dict[str, str | None]:
        """Deliver; event id -> None (handled), an error, or BLOCKED."""
        if not envelopes:
            return {}
        try:
            outcomes = self.signals.deliver(subscriber, event_type, envelopes)
        except Exception as failure:  # noqa: BLE001 - the whole batch failed (database down?)
            summary = failure_summary(failure)
            log.warning("delivery failed", extra={"subscriber": subscriber, "error": summary})
            outcomes = dict.fromkeys((e["id"] for e in envelopes), summary)
        self._count(subscriber, envelopes, outcomes)
        return outcomes

    @staticmethod
    def _count(subscriber: str, envelopes: list[dict[str, Any]],
               outcomes: dict[str, str | None]) -> None:
        """Metrics and warnings of one delivery: the counters bumped once, not per event."""
        now = datetime.now(UTC)
        handled = 0
        for envelope in envelopes:
            outcome = outcomes.get(envelope["id"], "the subscriber gave no outcome")
            if outcome is None:
                handled += 1
                metrics.LATENCY.observe(_age_seconds(envelope, now))
            elif outcome != BLOCKED:
                metrics.FAILED.labels(subscriber).inc()
                log.warning("delivery failed", extra={
                    "subscriber": subscriber, "event_id": envelope["id"], "error": outcome})
        if handled:
            metrics.DELIVERED.labels(subscriber).inc(handled)

    def _observe_backlog(self) -> None:
        with self.engine.connect() as conn:
            gauges = parking.gauges(conn)
            kept = {model.name: read_models.gauges(conn, model) for model in self.read_models}
        metrics.BACKLOG.set(gauges.backlog)
        metrics.OLDEST.set(gauges.oldest_seconds)
        metrics.PARKED.labels("retrying").set(gauges.retrying)
        metrics.PARKED.labels("dead").set(gauges.dead)
        for name, figures in kept.items():
            metrics.READ_MODEL_BACKLOG.labels(name).set(figures.backlog)
            metrics.READ_MODEL_LAG.labels(name).set(figures.lag_seconds)
            if figures.last_applied is not None:
                metrics.READ_MODEL_APPLIED.labels(name).set(figures.last_applied)

    def _leadership(self, wait: threading.Event | None
                    ) -> contextlib.AbstractContextManager[psycopg.Connection | None]:
        """Hold the relay lock on a dedicated connection; None if not obtained."""
        return leadership(self.engine, RELAY_LOCK_KEY, wait=wait,
                          poll_seconds=self.poll_seconds, role="relay")

    def _wait_for_wakeup(self, listener: psycopg.Connection, stop: threading.Event) -> None:
        """Return on a NOTIFY, on ``stop``, or when the poll interval has passed."""
        deadline = time.monotonic() + self.poll_seconds
        while not stop.is_set() and time.monotonic() < deadline:
            slice_ = min(STOP_CHECK_SECONDS, max(deadline - time.monotonic(), 0.0))
            if any(True for _ in listener.notifies(timeout=slice_, stop_after=1)):
                return


def _age_seconds(envelope: dict[str, Any], now: datetime) -> float:
    occurred = datetime.fromisoformat(envelope["occurred_at"])
    return max((now - occurred).total_seconds(), 0.0)
