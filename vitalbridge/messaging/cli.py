"""``flask outbox ...``: run the relay, inspect the backlog, retry and replay deliveries."""

from __future__ import annotations

import signal
import threading
import uuid
from datetime import datetime

import click
from flask.cli import AppGroup
from sqlalchemy import text

from vitalbridge import heap
from vitalbridge.db import service_engine
from vitalbridge.messaging.metrics import forget_process_metrics
from vitalbridge.messaging.parking import RetryPolicy
from vitalbridge.messaging.relay import Relay, RelayBusy
from vitalbridge.services import services

outbox = AppGroup("outbox", help="The transactional outbox and its relay.")

_BACKLOG = text("""
SELECT count(*) AS backlog,
       extract(epoch FROM now() - min(occurred_at)) AS oldest_seconds
  FROM outbox WHERE delivered_at IS NULL
""")
_PARKED = text("""
SELECT subscriber, count(*) FILTER (WHERE dead_at IS NULL) AS retrying,
       count(*) FILTER (WHERE dead_at IS NOT NULL) AS dead
  FROM parked_deliveries GROUP BY subscriber ORDER BY subscriber
""")
_RETRY = text("""
UPDATE parked_deliveries SET dead_at = NULL, attempts = 0, next_attempt_at = now()
 WHERE dead_at IS NOT NULL AND (CAST(:event AS uuid) IS NULL OR event_id = :event)
""")
_SINCE = text("""
SELECT envelope FROM outbox
 WHERE delivered_at IS NOT NULL AND occurred_at >= :since
   AND ('*' = ANY(:types) OR type = ANY(:types))
 ORDER BY seq
""")


def build_relay() -> Relay:
    """A relay for the current app, reading the outbox as the relay role."""
    svc = services()
    settings = svc.settings
    engine = service_engine(settings.relay_url, pool_size=2)
    policy = RetryPolicy(max_attempts=settings.outbox_max_attempts,
                         base_seconds=settings.outbox_retry_base_seconds,
                         cap_seconds=settings.outbox_retry_max_seconds)
    return Relay(engine=engine, signals=svc.signals, batch_size=settings.outbox_batch_size,
                 poll_seconds=settings.outbox_poll_seconds,
                 pass_seconds=settings.outbox_pass_seconds, retry=policy,
                 read_models=svc.read_models)


@outbox.command("relay")
def run_relay() -> None:
    """Deliver committed events to subscribers until SIGTERM or Ctrl-C."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    click.echo("outbox relay: waiting to become the active relay (Ctrl-C stops)", err=True)
    relay = build_relay()
    heap.settle()
    try:
        relay.run(stop)
    finally:
        forget_process_metrics()


@outbox.command("drain")
def drain() -> None:
    """Deliver everything that is waiting now, once, and exit (refused if a relay runs)."""
    try:
        click.echo(f"delivered {build_relay().drain()} events")
    except RelayBusy as busy:
        raise click.ClickException(f"{busy}; it delivers on its own") from busy


@outbox.command("status")
def status() -> None:
    """Backlog, oldest undelivered age, and retrying / dead deliveries per subscriber."""
    with build_relay().engine.connect() as conn:
        backlog = conn.execute(_BACKLOG).one()
        parked = conn.execute(_PARKED).all()
    age = f"{backlog.oldest_seconds:.1f}s" if backlog.oldest_seconds is not None else "-"
    click.echo(f"backlog: {backlog.backlog}  oldest undelivered: {age}")
    for row in parked:
        click.echo(f"subscriber {row.subscriber}: retrying {row.retrying}  dead {row.dead}")
    if not parked:
        click.echo("no retrying or dead deliveries")


@outbox.command("retry")
@click.argument("event_id", required=False, type=click.UUID)
@click.option("--all-dead", is_flag=True, help="Retry every dead-lettered delivery.")
def retry(event_id: uuid.UUID | None, all_dead: bool) -> None:
    """Give dead-lettered deliveries (one event, or --all-dead) a fresh set of attempts."""
    if (event_id is None) == (not all_dead):
        raise click.UsageError("Give an EVENT_ID or --all-dead.")
    with build_relay().engine.begin() as conn:
        count = conn.execute(_RETRY, {"event": event_id}).rowcount
    click.echo(f"{count} dead deliveries will be retried by the relay")


@outbox.command("replay")
@click.option("--subscriber", required=True, help="The subscriber to run again.")
@click.option("--since", required=True, type=click.DateTime(
    formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"]))
def replay(subscriber: str, since: datetime) -> None:
    """Offer delivered events since a time to one subscriber again (its inbox dedupes)."""
    relay = build_relay()
    types = relay.signals.event_types_of(subscriber)
    if not types:
        raise click.BadParameter(f"no subscriber named {subscriber!r}", param_hint="--subscriber")
    with relay.engine.connect() as conn:
        envelopes = conn.execute(_SINCE, {"since": since, "types": types}).scalars().all()
    failed = 0
    for envelope in envelopes:
        outcome = relay.signals.deliver(subscriber, envelope["type"], [envelope])
        failed += outcome.get(envelope["id"]) is not None
    click.echo(f"offered {len(envelopes)} events to {subscriber}; {failed} failed")
