"""Publishing to RabbitMQ (127.0.0.1:5672): confirmed, persistent, nothing lost while down.

Skipped, with the reason printed, when no RabbitMQ answers there.
"""

import socket
import uuid

import pytest
from kombu import Connection, Exchange, Queue
from sqlalchemy import text

from vitalbridge import create_app
from vitalbridge.messaging.broker import EXCHANGE, AmqpPublisher
from vitalbridge.messaging.cli import build_relay
from vitalbridge.messaging.messages import Principal
from vitalbridge.messaging.parking import RetryPolicy
from vitalbridge.messaging.uow import CommandContext
from vitalbridge.tenant.messages import CreateTenant

BROKER = "amqp://guest:guest@127.0.0.1:5672//"
UNREACHABLE = "amqp://guest:guest@127.0.0.1:1//"


def rabbitmq_is_up():
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=1).close()
    except OSError:
        return False
    return True


pytestmark = pytest.mark.skipif(not rabbitmq_is_up(),
                                reason="RabbitMQ is not listening on 127.0.0.1:5672")


@pytest.fixture
def queue():
    """A fresh queue bound to every event type on the events exchange."""
    name = f"vitalbridge-test-{uuid.uuid4().hex[:8]}"
    with Connection(BROKER) as conn:
        bound = Queue(name, Exchange(EXCHANGE, type="topic", durable=True), routing_key="#",
                      auto_delete=False)
        bound(conn.default_channel).declare()
        yield name
        bound(conn.default_channel).delete()


def drain_queue(name):
    with Connection(BROKER) as conn:
        simple = conn.SimpleQueue(name)
        messages = []
        while True:
            try:
                message = simple.get(timeout=0.5)
            except simple.Empty:
                break
            messages.append(message)
            message.ack()
        simple.close()
        return messages


@pytest.fixture
def broker_app(owner_url):
    app = create_app(database_url=owner_url, env="testing", event_broker_url=UNREACHABLE)
    yield app
    app.extensions["vitalbridge"].db.dispose()


def create_tenants(app, count):
    bus = app.extensions["vitalbridge"].commands
    with app.app_context():
        for n in range(count):
            bus.dispatch(CreateTenant(name=f"t{n}", slug=f"broker-{n}", timezone="UTC"),
                         CommandContext(principal=Principal.system()))


def test_events_are_published_confirmed_persistent_and_routed_by_type(owner_url, queue,
                                                                        owner_engine):
    app = create_app(database_url=owner_url, env="testing", event_broker_url=BROKER)
    try:
        create_tenants(app, 3)
        with app.app_context():
            build_relay().drain()
    finally:
        app.extensions["vitalbridge"].db.dispose()
    messages = drain_queue(queue)
    with owner_engine.connect() as conn:
        ids = set(conn.execute(text("SELECT id::text FROM outbox")).scalars())
        published = conn.execute(text(
            "SELECT count(*) FROM inbox WHERE subscriber = 'broker.amqp'")).scalar_one()
    assert {m.properties["message_id"] for m in messages} == ids
    assert {m.delivery_info["routing_key"] for m in messages} == {"tenant.created"}
    assert all(m.properties["delivery_mode"] == 2 for m in messages)
    assert published == 3


def test_broker_down_loses_nothing_and_the_backlog_drains(broker_app, queue, owner_engine):
    create_tenants(broker_app, 5)
    with broker_app.app_context():
        relay = build_relay()
    relay.retry = RetryPolicy(max_attempts=2, base_seconds=0.0)
    for _ in range(3):
        relay.drain()
    with owner_engine.connect() as conn:
        published = conn.execute(text(
            "SELECT count(*) FROM inbox WHERE subscriber = 'broker.amqp'")).scalar_one()
        parked = conn.execute(text(
            "SELECT count(*), count(dead_at) FROM parked_deliveries")).one()
    assert published == 0  # nothing counts as published without a confirm
    assert tuple(parked) == (5, 0)  # all waiting, none dead-lettered for the broker
    publisher = broker_app.extensions["vitalbridge"].publisher
    assert isinstance(publisher, AmqpPublisher)
    publisher.url = BROKER  # the broker is back (and its cool-down is over)
    publisher._down_until = 0.0
    relay.drain()
    assert len(drain_queue(queue)) == 5
    with owner_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM parked_deliveries")).scalar_one() == 0
