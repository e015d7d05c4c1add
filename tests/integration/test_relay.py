"""The outbox relay delivers committed events once per subscriber, in order."""

import threading
import time

import pytest
from sqlalchemy import text

from vitalbridge import create_app
from vitalbridge.messaging.cli import build_relay
from vitalbridge.messaging.messages import Principal
from vitalbridge.messaging.subscribers import Subscriber, connect
from vitalbridge.messaging.uow import CommandContext
from vitalbridge.tenant.messages import CreateTenant


@pytest.fixture
def relay_app(owner_url):
    app = create_app(database_url=owner_url, env="testing", outbox_poll_seconds=30.0)
    yield app
    app.extensions["vitalbridge"].db.dispose()


def subscribe(app, name, react):
    svc = app.extensions["vitalbridge"]
    connect(Subscriber(name=name, event_type="tenant.created", react=react), svc.signals, svc.db)


def create_tenants(app, *slugs):
    bus = app.extensions["vitalbridge"].commands
    with app.app_context():
        for slug in slugs:
            bus.dispatch(CreateTenant(name=slug, slug=slug, timezone="UTC"),
                         CommandContext(principal=Principal.system()))


def test_each_event_reaches_a_subscriber_once_in_commit_order(relay_app, owner_engine):
    seen = []
    subscribe(relay_app, "recorder", lambda envelope, uow: seen.append(envelope["data"]["slug"]))
    create_tenants(relay_app, "one", "two", "three")
    with relay_app.app_context():
        relay = build_relay()
        assert relay.drain() == 3
        assert relay.drain() == 0
    assert seen == ["one", "two", "three"]
    with owner_engine.connect() as conn:
        assert conn.execute(text(
            "SELECT count(*) FROM outbox WHERE delivered_at IS NULL")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM inbox")).scalar_one() == 3


def test_a_redelivered_event_has_no_second_effect(relay_app, owner_engine):
    seen = []
    subscribe(relay_app, "recorder", lambda envelope, uow: seen.append(envelope["id"]))
    create_tenants(relay_app, "only")
    with relay_app.app_context():
        relay = build_relay()
        relay.drain()
        with owner_engine.begin() as conn:  # as if the relay died before marking delivery
            conn.execute(text("UPDATE outbox SET delivered_at = NULL"))
        assert relay.drain() == 1
    assert len(seen) == 1


def test_a_failing_subscriber_holds_back_later_events_until_fixed(relay_app, owner_engine):
    broken = {"yes": True}
    seen = []

    def react(envelope, uow):
        if broken["yes"]:
            raise RuntimeError("downstream unavailable")
        seen.append(envelope["data"]["slug"])

    subscribe(relay_app, "flaky", react)
    create_tenants(relay_app, "first", "second")
    with relay_app.app_context():
        relay = build_relay()
        assert relay.drain() == 0
        with owner_engine.connect() as conn:
            failed = conn.execute(text(
                "SELECT attempts, last_error FROM outbox ORDER BY seq LIMIT 1")).one()
        assert failed.attempts == 1
        assert "downstream unavailable" in failed.last_error
        broken["yes"] = False
        assert relay.drain() == 2
    assert seen == ["first", "second"]


def test_notify_wakes_the_running_relay(relay_app):
    delivered = threading.Event()
    subscribe(relay_app, "waker", lambda envelope, uow: delivered.set())
    stop = threading.Event()
    with relay_app.app_context():
        relay = build_relay()
    worker = threading.Thread(target=lambda: _run(relay_app, relay, stop), daemon=True)
    worker.start()
    time.sleep(0.5)  # let it LISTEN; its poll interval is 30 s, so only NOTIFY can wake it
    create_tenants(relay_app, "wake-up")
    try:
        assert delivered.wait(timeout=10), "relay did not wake on NOTIFY"
    finally:
        stop.set()
        worker.join(timeout=35)


def _run(app, relay, stop):
    with app.app_context():
        relay.run(stop)
