"""The outbox relay: once per subscriber, in order, failures parked, dead letters retried."""

import itertools
import threading
import time

import pytest
from sqlalchemy import text

from vitalbridge import create_app
from vitalbridge.messaging.cli import build_relay
from vitalbridge.messaging.messages import Principal, Role
from vitalbridge.messaging.metrics import NO_SUBSCRIBER
from vitalbridge.messaging.parking import RetryPolicy
from vitalbridge.messaging.relay import PASS_SECONDS, RETRY_CHECK_SECONDS, RelayBusy
from vitalbridge.messaging.subscribers import BatchSubscriber, Subscriber, connect
from vitalbridge.messaging.uow import CommandContext
from vitalbridge.tenant.messages import CreateApiKey, CreateTenant, RevokeApiKey

IMMEDIATE_RETRY = RetryPolicy(max_attempts=3, base_seconds=0.0)


@pytest.fixture
def relay_app(owner_url):
    app = create_app(database_url=owner_url, env="testing", outbox_poll_seconds=30.0)
    yield app
    app.extensions["vitalbridge"].db.dispose()


def subscribe(app, name, react, event_type="tenant.created"):
    svc = app.extensions["vitalbridge"]
    connect(Subscriber(name=name, event_type=event_type, react=react), svc.signals, svc.db)


def subscribe_batches(app, name, react, event_types=frozenset({"tenant.created"})):
    svc = app.extensions["vitalbridge"]
    connect(BatchSubscriber(name=name, event_types=event_types, react=react), svc.signals,
            svc.db)


def dispatch(app, command, tenant_id=None):
    bus = app.extensions["vitalbridge"].commands
    with app.app_context():
        return bus.dispatch(command, CommandContext(principal=Principal.system(tenant_id)))


def create_tenants(app, *slugs):
    return [dispatch(app, CreateTenant(name=s, slug=s, timezone="UTC")).id for s in slugs]


def relay_for(app, policy=IMMEDIATE_RETRY):
    with app.app_context():
        relay = build_relay()
    relay.retry = policy
    return relay


def scalar(owner_engine, sql):
    with owner_engine.connect() as conn:
        return conn.execute(text(sql)).scalar_one()


def test_each_event_reaches_a_subscriber_once_in_commit_order(relay_app, owner_engine):
    seen = []
    subscribe(relay_app, "recorder", lambda envelope, uow: seen.append(envelope["data"]["slug"]))
    create_tenants(relay_app, "one", "two", "three")
    relay = relay_for(relay_app)
    assert relay.drain() == 3
    assert relay.drain() == 0
    assert seen == ["one", "two", "three"]
    assert scalar(owner_engine, "SELECT count(*) FROM outbox WHERE delivered_at IS NULL") == 0
    assert scalar(owner_engine, "SELECT count(*) FROM inbox WHERE subscriber = 'recorder'") == 3


def test_a_redelivered_event_has_no_second_effect(relay_app, owner_engine):
    seen = []
    subscribe(relay_app, "recorder", lambda envelope, uow: seen.append(envelope["id"]))
    create_tenants(relay_app, "only")
    relay = relay_for(relay_app)
    relay.drain()
    with owner_engine.begin() as conn:  # as if the relay died before marking delivery
        conn.execute(text("UPDATE outbox SET delivered_at = NULL, position = NULL"))
        conn.execute(text("DELETE FROM event_positions"))
    assert relay.drain() == 1
    assert len(seen) == 1


def test_a_failing_subscriber_is_parked_while_others_flow(relay_app, owner_engine):
    good, flaky = [], []

    def fail_on_first(envelope, uow):
        if envelope["data"]["slug"] == "first":
            raise RuntimeError("downstream unavailable")
        flaky.append(envelope["data"]["slug"])

    subscribe(relay_app, "good", lambda envelope, uow: good.append(envelope["data"]["slug"]))
    subscribe(relay_app, "flaky", fail_on_first)
    create_tenants(relay_app, "first", "second")
    relay_for(relay_app, RetryPolicy(base_seconds=60.0)).drain()
    assert good == ["first", "second"]
    assert flaky == ["second"]
    with owner_engine.connect() as conn:
        parked = conn.execute(text("SELECT subscriber, attempts, last_error, dead_at "
                                   "FROM parked_deliveries")).one()
    assert parked.subscriber == "flaky"
    assert parked.attempts == 1
    assert parked.last_error == "RuntimeError"  # the class only: a message may hold PHI
    assert parked.dead_at is None
    assert scalar(owner_engine, "SELECT count(*) FROM outbox WHERE delivered_at IS NULL") == 0


def test_batch_subscribers_take_a_batch_side_by_side_and_fail_alone(relay_app, owner_engine):
    # Each call waits for the other subscriber's: one after another, both would time out.
    side_by_side = threading.Barrier(2, timeout=10)
    seen = {"left": [], "right": []}

    def meeting(name):
        def react(envelopes, uow):
            side_by_side.wait()
            seen[name] += [envelope["data"]["slug"] for envelope in envelopes]
        return react

    def broken(envelopes, uow):
        raise RuntimeError("read model broken")

    subscribe_batches(relay_app, "left", meeting("left"))
    subscribe_batches(relay_app, "right", meeting("right"))
    subscribe_batches(relay_app, "broken", broken)
    create_tenants(relay_app, "one", "two")
    assert relay_for(relay_app, RetryPolicy(base_seconds=60.0)).drain() == 2
    assert seen == {"left": ["one", "two"], "right": ["one", "two"]}
    with owner_engine.connect() as conn:
        parked = conn.execute(text("SELECT subscriber, attempts FROM parked_deliveries "
                                   "ORDER BY seq")).all()
    assert [tuple(row) for row in parked] == [("broken", 1), ("broken", 1)]
    assert scalar(owner_engine, "SELECT count(*) FROM outbox WHERE delivered_at IS NULL") == 0


def test_later_events_of_a_parked_aggregate_wait_their_turn(relay_app, tenant_and_key):
    tenant_id, key_id = tenant_and_key
    broken = {"yes": True}
    seen = []

    def react(envelope, uow):
        if broken["yes"] and envelope["type"] == "api_key.created":
            raise RuntimeError("not yet")
        seen.append(envelope["type"])

    for kind in ("api_key.created", "api_key.revoked"):
        subscribe(relay_app, "ordered", react, event_type=kind)
    relay = relay_for(relay_app, RetryPolicy(max_attempts=10, base_seconds=0.0))
    dispatch(relay_app, CreateApiKey(name="second admin", role=Role.ADMIN), tenant_id)
    dispatch(relay_app, RevokeApiKey(key_id=key_id), tenant_id)
    relay.drain()
    assert "api_key.revoked" not in seen  # queued behind the failing create of its aggregate
    broken["yes"] = False
    relay.drain()
    assert seen[-2:] == ["api_key.created", "api_key.revoked"]


@pytest.fixture
def tenant_and_key(relay_app):
    ack = dispatch(relay_app, CreateTenant(name="t", slug="keys", timezone="UTC",
                                           with_admin_key=True))
    from vitalbridge.tenant.messages import parse_api_key

    return ack.id, parse_api_key(ack.extra["api_key"]).key_id


def failing_until_fixed(seen):
    """A reaction that fails until ``broken["yes"]`` is cleared, then records slugs."""
    broken = {"yes": True}

    def react(envelope, uow):
        if broken["yes"]:
            raise RuntimeError("always fails")
        seen.append(envelope["data"]["slug"])

    return broken, react


def test_dead_letters_after_max_attempts_then_retry_redelivers(relay_app, owner_engine):
    seen = []
    broken, react = failing_until_fixed(seen)
    subscribe(relay_app, "doomed", react)
    create_tenants(relay_app, "x")
    relay = relay_for(relay_app)
    for _ in range(4):
        relay.drain()
    assert scalar(owner_engine, "SELECT attempts FROM parked_deliveries") == 3
    assert scalar(owner_engine, "SELECT dead_at IS NOT NULL FROM parked_deliveries")
    create_tenants(relay_app, "y")  # other aggregates keep flowing past the dead letter
    broken["yes"] = False
    relay.drain()
    assert seen == ["y"]
    result = relay_app.test_cli_runner().invoke(args=["outbox", "retry", "--all-dead"])
    assert "1 dead deliveries will be retried" in result.output
    relay.drain()
    assert seen == ["y", "x"]
    assert scalar(owner_engine, "SELECT count(*) FROM parked_deliveries") == 0


def test_feed_positions_are_gap_free_per_tenant(relay_app, owner_engine):
    create_tenants(relay_app, "a", "b")
    dispatch(relay_app, CreateTenant(name="c", slug="c", timezone="UTC", with_admin_key=True))
    relay_for(relay_app).drain()
    with owner_engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT tenant_id, array_agg(position ORDER BY position) AS positions "
            "FROM outbox GROUP BY tenant_id")).all()
    assert sorted(len(r.positions) for r in rows) == [1, 1, 2]
    assert all(r.positions == list(range(1, len(r.positions) + 1)) for r in rows)


def test_only_one_relay_delivers_at_a_time(relay_app):
    stop = threading.Event()
    active = relay_for(relay_app)
    worker = threading.Thread(target=active.run, args=(stop,), daemon=True)
    worker.start()
    time.sleep(0.5)
    try:
        with pytest.raises(RelayBusy):
            relay_for(relay_app).drain()
        cli = relay_app.test_cli_runner().invoke(args=["outbox", "drain"])
        assert cli.exit_code == 1
        assert "another relay is active" in cli.output
    finally:
        stop.set()
        worker.join(timeout=5)


def test_notify_wakes_the_running_relay(relay_app):
    delivered = threading.Event()
    subscribe(relay_app, "waker", lambda envelope, uow: delivered.set())
    stop = threading.Event()
    relay = relay_for(relay_app)
    worker = threading.Thread(target=relay.run, args=(stop,), daemon=True)
    worker.start()
    time.sleep(0.5)  # let it LISTEN; its poll interval is 30 s, so only NOTIFY can wake it
    create_tenants(relay_app, "wake-up")
    try:
        assert delivered.wait(timeout=10), "relay did not wake on NOTIFY"
    finally:
        stop.set()
        worker.join(timeout=5)


def test_a_busy_relay_reads_its_backlog_gauges_at_most_once_a_second(relay_app):
    delivered = []
    subscribe(relay_app, "busy", lambda envelope, uow: delivered.append(envelope["id"]))
    stop = threading.Event()
    relay = relay_for(relay_app)
    observed = []
    measure = relay._observe_backlog
    relay._observe_backlog = lambda: (observed.append(time.monotonic()), measure())
    worker = threading.Thread(target=relay.run, args=(stop,), daemon=True)
    worker.start()
    time.sleep(0.5)  # listening; only NOTIFY wakes it (30 s poll)
    started = time.monotonic()
    try:
        for n in range(12):  # a wake-up for each, over about two seconds
            create_tenants(relay_app, f"busy-{n}")
            time.sleep(0.15)
        time.sleep(0.3)
    finally:
        stop.set()
        worker.join(timeout=5)
    assert len(delivered) == 12
    during = [at for at in observed if at >= started]
    assert 1 <= len(during) <= 3, during  # once right away, then at most once a second
    assert all(b - a >= 0.99 for a, b in itertools.pairwise(observed))


def test_a_busy_relay_paces_its_passes_and_its_retry_checks(relay_app, owner_engine):
    relay = relay_for(relay_app)
    passes, retry_checks = [], []
    deliver, retry_due = relay._deliver_batch, relay._retry_due

    def counted_pass(workers):
        delivered = deliver(workers)
        if delivered:
            passes.append(delivered)
        return delivered

    relay._deliver_batch = counted_pass
    relay._retry_due = lambda: (retry_checks.append(1), retry_due())[1]
    stop = threading.Event()
    worker = threading.Thread(target=relay.run, args=(stop,), daemon=True)
    worker.start()
    time.sleep(0.5)  # listening
    retry_checks.clear()
    committed, started = 0, time.monotonic()
    try:
        while time.monotonic() - started < 1.0:  # a commit (and a wake-up) each ~1-2 ms
            with owner_engine.begin() as conn:
                conn.execute(text(
                    "INSERT INTO outbox (tenant_id, id, type, aggregate_type, aggregate_id, "
                    "envelope) VALUES (gen_random_uuid(), gen_random_uuid(), 'test.paced', "
                    "'test', gen_random_uuid(), '{}')"))
            committed += 1
        time.sleep(0.3)
    finally:
        stop.set()
        worker.join(timeout=5)
    assert sum(passes) == committed > 100
    assert relay.pass_seconds == PASS_SECONDS
    assert len(passes) <= 1.3 / PASS_SECONDS + 2, (len(passes), committed)
    assert len(retry_checks) <= 1.3 / RETRY_CHECK_SECONDS + 2, len(retry_checks)


def test_the_pass_interval_is_a_setting(owner_url):
    app = create_app(database_url=owner_url, env="testing", outbox_pass_seconds=0.05)
    with app.app_context():
        assert build_relay().pass_seconds == 0.05


def test_status_and_replay_commands(relay_app):
    seen = []
    subscribe(relay_app, "recorder", lambda envelope, uow: seen.append(envelope["id"]))
    create_tenants(relay_app, "s")
    runner = relay_app.test_cli_runner()
    assert "backlog: 1" in runner.invoke(args=["outbox", "status"]).output
    relay_for(relay_app).drain()
    assert "backlog: 0" in runner.invoke(args=["outbox", "status"]).output
    replayed = runner.invoke(args=["outbox", "replay", "--subscriber", "recorder",
                                   "--since", "2000-01-01"])
    assert "offered 1 events to recorder; 0 failed" in replayed.output
    assert len(seen) == 1  # the inbox makes the replay a no-op for handled events
    unknown = runner.invoke(args=["outbox", "replay", "--subscriber", "nobody",
                                  "--since", "2000-01-01"])
    assert unknown.exit_code == 2


def test_relay_metrics_count_deliveries_failures_and_backlog(relay_app):
    from prometheus_client import REGISTRY

    def sample(name, **labels):
        return REGISTRY.get_sample_value(name, labels) or 0.0

    def fail(envelope, uow):
        raise RuntimeError("no")

    def delivered_to_anyone():  # the read models' subscribers take tenant.created too
        return sum(s.value for metric in REGISTRY.collect()
                   if metric.name == "vitalbridge_outbox_delivered"
                   for s in metric.samples if s.name.endswith("_total")
                   and s.labels["subscriber"] != NO_SUBSCRIBER)

    subscribe(relay_app, "metered", lambda envelope, uow: None)
    subscribe(relay_app, "metered-fail", fail)
    before = (sample("vitalbridge_outbox_delivered_total", subscriber="metered"),
              sample("vitalbridge_outbox_failed_total", subscriber="metered-fail"),
              sample("vitalbridge_outbox_delivery_latency_seconds_count"),
              delivered_to_anyone())
    create_tenants(relay_app, "m1", "m2")
    relay = relay_for(relay_app, RetryPolicy(base_seconds=60.0))
    relay._observe_backlog()
    assert sample("vitalbridge_outbox_backlog") == 2
    relay.drain()
    relay._observe_backlog()
    assert sample("vitalbridge_outbox_delivered_total", subscriber="metered") == before[0] + 2
    assert sample("vitalbridge_outbox_failed_total", subscriber="metered-fail") == before[1] + 2
    # One latency sample per successful delivery, whoever the subscriber.
    delivered = delivered_to_anyone() - before[3]
    assert delivered >= 2
    assert sample("vitalbridge_outbox_delivery_latency_seconds_count") == before[2] + delivered
    assert sample("vitalbridge_outbox_backlog") == 0
    assert sample("vitalbridge_outbox_parked", state="retrying") == 2


def test_events_no_subscriber_listens_to_are_counted_as_delivered_to_none(relay_app):
    from prometheus_client import REGISTRY

    def to_nobody():
        return REGISTRY.get_sample_value("vitalbridge_outbox_delivered_total",
                                         {"subscriber": NO_SUBSCRIBER}) or 0.0

    before = to_nobody()
    (tenant_id,) = create_tenants(relay_app, "quiet")
    relay = relay_for(relay_app)
    assert relay.drain() == 1
    assert to_nobody() == before  # tenant.created has subscribers (the read models)
    for name in ("desk", "tablet", "kiosk"):  # api_key.created: no subscriber at all
        dispatch(relay_app, CreateApiKey(name=name, role=Role.STAFF), tenant_id)
    assert relay_app.extensions["vitalbridge"].signals.subscribers("api_key.created") == []
    assert relay.drain() == 3
    assert to_nobody() == before + 3
    assert relay.drain() == 0
    assert to_nobody() == before + 3


def test_retry_one_dead_event_by_id(relay_app, owner_engine):
    seen = []
    broken, react = failing_until_fixed(seen)
    subscribe(relay_app, "doomed", react)
    create_tenants(relay_app, "p", "q")
    relay = relay_for(relay_app)
    for _ in range(4):
        relay.drain()
    assert scalar(owner_engine, "SELECT count(dead_at) FROM parked_deliveries") == 2
    with owner_engine.connect() as conn:
        p_event = conn.execute(text("SELECT id FROM outbox WHERE envelope->'data'->>'slug' = 'p'"
                                    )).scalar_one()
    broken["yes"] = False
    runner = relay_app.test_cli_runner()
    result = runner.invoke(args=["outbox", "retry", str(p_event)])
    assert "1 dead deliveries will be retried" in result.output
    relay.drain()
    assert seen == ["p"]
    assert "retrying 0  dead 1" in runner.invoke(args=["outbox", "status"]).output
    assert runner.invoke(args=["outbox", "retry"]).exit_code == 2


def test_replay_reaches_a_subscriber_of_every_event(relay_app):
    seen = []
    subscribe(relay_app, "all-seer", lambda envelope, uow: seen.append(envelope["type"]),
              event_type="*")
    create_tenants(relay_app, "w")
    relay_for(relay_app).drain()
    assert seen == ["tenant.created"]
    replayed = relay_app.test_cli_runner().invoke(args=[
        "outbox", "replay", "--subscriber", "all-seer", "--since", "2000-01-01"])
    assert "offered 1 events to all-seer; 0 failed" in replayed.output
    assert seen == ["tenant.created"]


def test_a_parked_delivery_of_a_subscriber_this_relay_lacks_waits_untouched(owner_url,
                                                                             owner_engine):
    # A subscriber removed from the code (or run by another relay) left a parked row: the
    # relay neither crashes on it nor fails it towards a dead letter.
    before = create_app(database_url=owner_url, env="testing", outbox_poll_seconds=30.0)
    after = create_app(database_url=owner_url, env="testing", outbox_poll_seconds=30.0)
    try:
        subscribe(before, "retired", lambda envelope, uow: (_ for _ in ()).throw(
            RuntimeError("not now")))
        create_tenants(before, "retiring")
        relay_for(before, RetryPolicy(max_attempts=3, base_seconds=0.0)).drain()
        parked = _parked(owner_engine)
        assert parked[0] == "retired"
        assert parked[2] is None  # retrying, not dead
        relay_for(after, RetryPolicy(max_attempts=3, base_seconds=0.0)).drain()
    finally:
        for app in (before, after):
            app.extensions["vitalbridge"].db.dispose()
    assert _parked(owner_engine) == parked


def _parked(owner_engine):
    with owner_engine.connect() as conn:
        return tuple(conn.execute(text("SELECT subscriber, attempts, dead_at "
                                       "FROM parked_deliveries")).one())
