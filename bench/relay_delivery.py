"""Benchmark of the outbox relay (issue: event delivery you can trust).

1. Sustained delivery rate: N events already committed, one in-process subscriber
   (inbox + a no-op effect, in its own unit of work per event, as in production);
   time ``relay.drain()``.
2. Commit-to-subscriber latency under light load: a running relay (LISTEN/NOTIFY), a
   writer committing ~RATE commands per second; p50/p99 of (handled - committed).

Usage: .venv/bin/python bench/relay_delivery.py [--events 20000] [--rate 20] [--seconds 15]
Uses TEST_DATABASE_URL's server if set, else a throwaway embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from datetime import UTC, datetime

from sqlalchemy import create_engine, text

from tests import database
from vitalbridge import create_app
from vitalbridge.messaging.cli import build_relay
from vitalbridge.messaging.messages import Principal
from vitalbridge.messaging.subscribers import Subscriber, connect
from vitalbridge.messaging.uow import CommandContext
from vitalbridge.tenant.messages import CreateTenant

BULK = text("""
INSERT INTO outbox (tenant_id, id, type, aggregate_type, aggregate_id, envelope)
SELECT t, e, 'bench.tick', 'bench', a,
       jsonb_build_object('id', e, 'type', 'bench.tick', 'version', 1, 'tenant_id', t,
                          'aggregate_id', a, 'occurred_at', '2026-01-01T00:00:00Z',
                          'data', '{}'::jsonb)
  FROM (SELECT gen_random_uuid() AS e, '00000000-0000-0000-0000-00000000000b'::uuid AS t,
               md5((g % 500)::text)::uuid AS a FROM generate_series(1, :n) g ORDER BY g) s
""")


def delivery_rate(url: str, events: int) -> float:
    """Events per second delivered by one drain to one inbox-backed subscriber."""
    app = create_app(database_url=url, env="testing", log_level="WARNING",
                     outbox_batch_size=500)
    svc = app.extensions["vitalbridge"]
    connect(Subscriber("bench", "bench.tick", lambda envelope, uow: None), svc.signals, svc.db)
    owner = create_engine(url)
    with owner.begin() as conn:
        conn.execute(BULK, {"n": events})
    with app.app_context():
        relay = build_relay()
    started = time.perf_counter()
    delivered = relay.drain()
    elapsed = time.perf_counter() - started
    assert delivered == events, (delivered, events)
    owner.dispose()
    return events / elapsed


def latency(url: str, rate: float, seconds: float) -> list[float]:
    """Commit-to-subscriber latencies (s) of tenant.created events at ``rate`` per second."""
    app = create_app(database_url=url, env="testing", log_level="WARNING",
                     outbox_poll_seconds=1.0)
    svc = app.extensions["vitalbridge"]
    samples: list[float] = []

    def measure(envelope, uow):  # type: ignore[no-untyped-def]
        committed = datetime.fromisoformat(envelope["data"]["name"])
        samples.append((datetime.now(UTC) - committed).total_seconds())

    connect(Subscriber("latency", "tenant.created", measure), svc.signals, svc.db)
    stop = threading.Event()
    with app.app_context():
        relay = build_relay()
    runner = threading.Thread(target=relay.run, args=(stop,), daemon=True)
    runner.start()
    time.sleep(0.5)
    deadline, n = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        # The name carries the moment just before commit; the commit itself is counted.
        svc.commands.dispatch(CreateTenant(name=datetime.now(UTC).isoformat(), slug=f"l{n}",
                                           timezone="UTC"),
                              CommandContext(principal=Principal.system()))
        n += 1
        time.sleep(1 / rate)
    time.sleep(1.0)
    stop.set()
    runner.join(timeout=5)
    return samples


def main() -> None:
    """Run both measurements and print a Markdown summary."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    with database.server_url() as server, database.migrated_database(server) as url:
        rate = delivery_rate(url, args.events)
        with create_app(database_url=url, env="testing").app_context():
            lat = sorted(latency(url, args.rate, args.seconds))
    p50 = statistics.median(lat) * 1000
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
    print(f"| sustained delivery, {args.events} events, 1 subscriber | {rate:,.0f} events/s |")
    print(f"| latency at {args.rate:g}/s for {args.seconds:g}s, n={len(lat)} | "
          f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {lat[-1] * 1000:.1f} ms |")


if __name__ == "__main__":
    main()
