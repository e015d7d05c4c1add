"""``flask outbox ...``: run the relay, inspect the backlog."""

from __future__ import annotations

import signal
import threading

import click
from flask.cli import AppGroup
from sqlalchemy import create_engine, text

from vitalbridge.db import psycopg_url
from vitalbridge.messaging.relay import Relay
from vitalbridge.services import services

outbox = AppGroup("outbox", help="The transactional outbox and its relay.")

_STATUS = text("""
SELECT count(*) FILTER (WHERE delivered_at IS NULL) AS backlog,
       count(*) FILTER (WHERE delivered_at IS NULL AND last_error IS NOT NULL) AS failing,
       extract(epoch FROM now() - min(occurred_at) FILTER (WHERE delivered_at IS NULL))
         AS oldest_seconds
  FROM outbox
""")


def build_relay() -> Relay:
    """A relay for the current app, reading the outbox as the relay role."""
    svc = services()
    engine = create_engine(psycopg_url(svc.settings.relay_url), pool_size=2, pool_pre_ping=True)
    return Relay(engine=engine, signals=svc.signals,
                 batch_size=svc.settings.outbox_batch_size,
                 poll_seconds=svc.settings.outbox_poll_seconds)


@outbox.command("relay")
def run_relay() -> None:
    """Deliver committed events to subscribers until SIGTERM or Ctrl-C."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    click.echo("outbox relay: waiting for events (Ctrl-C stops)", err=True)
    build_relay().run(stop)


@outbox.command("drain")
def drain() -> None:
    """Deliver everything that is waiting now, once, and exit."""
    click.echo(f"delivered {build_relay().drain()} events")


@outbox.command("status")
def status() -> None:
    """Backlog size, failing events and the oldest undelivered event's age."""
    with build_relay().engine.connect() as conn:
        row = conn.execute(_STATUS).one()
    age = f"{row.oldest_seconds:.1f}s" if row.oldest_seconds is not None else "-"
    click.echo(f"backlog: {row.backlog}  failing: {row.failing}  oldest undelivered: {age}")
