"""Fault tests of delivery: SIGKILLed relays, two relays at once, many concurrent writers.

Each checks the promise: every committed event delivered, each subscriber effect
exactly once, per-aggregate order kept.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text

from tests.fault.conftest import start_relay
from vitalbridge import create_app
from vitalbridge.messaging.messages import Principal, Role
from vitalbridge.messaging.uow import CommandContext
from vitalbridge.tenant.messages import CreateApiKey, CreateTenant, RevokeApiKey

pytestmark = pytest.mark.slow

_DUPLICATES = text("SELECT count(*) FROM (SELECT event_id FROM fault_effects "
                   "GROUP BY event_id HAVING count(*) > 1) d")
_MISSING = text("SELECT count(*) FROM outbox o WHERE NOT EXISTS "
                "(SELECT 1 FROM fault_effects e WHERE e.event_id = o.id)")
# An aggregate is out of order when an effect recorded later has a smaller seq.
_OUT_OF_ORDER = text("""
SELECT count(*) FROM fault_effects a JOIN fault_effects b
  ON a.aggregate_id = b.aggregate_id AND a.n < b.n AND a.seq > b.seq
""")


def write_clinic(app, n):
    """tenant.created, api_key.created x2 and api_key.revoked (two events on one key)."""
    bus = app.extensions["vitalbridge"].commands
    with app.app_context():
        tenant = bus.dispatch(CreateTenant(name=f"c{n}", slug=f"c-{n}", timezone="UTC",
                                           with_admin_key=True),
                              CommandContext(principal=Principal.system())).id
        inside = CommandContext(principal=Principal.system(tenant))
        key = bus.dispatch(CreateApiKey(name="second", role=Role.ADMIN), inside).id
        bus.dispatch(RevokeApiKey(key_id=key), inside)


def wait_until_all_delivered(engine, seconds=60):
    deadline = time.monotonic() + seconds
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            undelivered = conn.execute(text(
                "SELECT count(*) FROM outbox WHERE delivered_at IS NULL")).scalar_one()
            missing = conn.execute(_MISSING).scalar_one()
            conn.rollback()
            if undelivered == 0 and missing == 0:
                return
            time.sleep(0.2)
    pytest.fail(f"not delivered in {seconds} s: {undelivered} undelivered, {missing} missing")


def assert_exactly_once_in_order(engine):
    with engine.connect() as conn:
        assert conn.execute(_DUPLICATES).scalar_one() == 0, "an effect happened twice"
        assert conn.execute(_MISSING).scalar_one() == 0, "an event was never handled"
        assert conn.execute(_OUT_OF_ORDER).scalar_one() == 0, "an aggregate was reordered"


def test_relay_killed_at_random_moments_loses_and_repeats_nothing(fault_db, fault_engine):
    app = create_app(database_url=fault_db, env="testing", database_pool_size=30)
    writing = threading.Event()
    writing.set()
    written = []

    def writer():
        n = 0
        while writing.is_set():
            write_clinic(app, n)
            written.append(n)
            n += 1

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    rng = random.Random(20261123)
    try:
        for _ in range(50):
            relay = start_relay(fault_db)
            time.sleep(rng.uniform(0.3, 1.5))
            relay.send_signal(signal.SIGKILL)
            relay.wait()
    finally:
        writing.clear()
        thread.join(timeout=30)
    final = start_relay(fault_db)
    try:
        # A liveness bound, not a speed test: the writer outpaces the killed relays, and
        # every tenant it creates is one more batch for each read model, so the backlog
        # the last relay drains is large on a busy two-core machine.
        wait_until_all_delivered(fault_engine, seconds=180)
    finally:
        final.terminate()
        final.wait(timeout=10)
        app.extensions["vitalbridge"].db.dispose()
    assert len(written) > 50
    assert_exactly_once_in_order(fault_engine)


def test_two_relays_over_ten_thousand_events(fault_db, fault_engine):
    with fault_engine.begin() as conn:  # 1,000 aggregates x 10 events, bulk-written
        conn.execute(text("""
            INSERT INTO outbox (tenant_id, id, type, aggregate_type, aggregate_id, envelope)
            SELECT t, e, 'api_key.revoked', 'api_key', a,
                   jsonb_build_object('id', e, 'type', 'api_key.revoked', 'version', 1,
                                      'tenant_id', t, 'aggregate_id', a,
                                      'occurred_at', to_char(now() AT TIME ZONE 'UTC',
                                                             'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                                      'data', '{}'::jsonb)
              FROM (SELECT gen_random_uuid() AS e,
                           ('00000000-0000-0000-0000-' || lpad((g % 10)::text, 12, '0'))::uuid AS t,
                           md5((g % 1000)::text)::uuid AS a
                      FROM generate_series(1, 10000) g ORDER BY g) s
        """))
    relays = [start_relay(fault_db), start_relay(fault_db)]
    try:
        time.sleep(1.0)
        relays[0].send_signal(signal.SIGKILL)  # hand over mid-way to the waiting relay
        wait_until_all_delivered(fault_engine, seconds=120)
    finally:
        for relay in relays:
            if relay.poll() is None:
                relay.terminate()
            relay.wait(timeout=10)
    with fault_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM fault_effects")).scalar_one() == 10000
    assert_exactly_once_in_order(fault_engine)


def test_fifty_concurrent_writers_nothing_skipped_by_relay_or_feed(fault_db, fault_engine):
    app = create_app(database_url=fault_db, env="testing", database_pool_size=30)
    with app.app_context():
        clinic = app.extensions["vitalbridge"].commands.dispatch(
            CreateTenant(name="busy", slug="busy", timezone="UTC", with_admin_key=True),
            CommandContext(principal=Principal.system()))
    key = clinic.extra["api_key"]
    relay = start_relay(fault_db)
    seen, stop_reading = [], threading.Event()

    def follow_feed():
        client, after = app.test_client(), 0
        while not stop_reading.is_set() or len(seen) < 1 + 1 + 50 * 10:
            page = client.get(f"/api/v1/events?after={after}&limit=200",
                              headers={"Authorization": f"Bearer {key}"}).json
            seen.extend(page["items"])
            after = page["next_after"]
            if not page["items"]:
                time.sleep(0.05)

    def write(worker):
        bus = app.extensions["vitalbridge"].commands
        with app.app_context():
            for n in range(10):
                bus.dispatch(CreateApiKey(name=f"w{worker}-{n}", role=Role.STAFF),
                             CommandContext(principal=Principal.system(clinic.id)))

    reader = threading.Thread(target=follow_feed, daemon=True)
    reader.start()
    try:
        with ThreadPoolExecutor(max_workers=50) as pool:
            list(pool.map(write, range(50)))
        wait_until_all_delivered(fault_engine)
        stop_reading.set()
        reader.join(timeout=30)
    finally:
        relay.terminate()
        relay.wait(timeout=10)
        app.extensions["vitalbridge"].db.dispose()
    positions = [event["position"] for event in seen]
    assert positions == list(range(1, 503)), "the feed skipped or repeated a position"
    assert len({event["id"] for event in seen}) == 502
    assert_exactly_once_in_order(fault_engine)
