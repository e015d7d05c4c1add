"""Read your writes across a real streaming replica (pg_basebackup -R of a primary).

The Consistency-Token of a command reply carries the primary's WAL position after the
commit; a query sent with it reads the replica once the replica has replayed that far,
else the primary (or 503 with REPLICA_CATCH_UP_FALLBACK=503). Which server answered is
read from the statements each engine ran, never from the answer alone.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url

from tests import database
from tests.appointment_factories import next_monday
from tests.conftest import bearer
from tests.factories import TenantFactory
from tests.patient_factories import PatientFactory
from tests.provider_factories import ProviderFactory
from tests.read_model_helpers import catch_up
from tests.replica import PRIMARY_PORT, STANDBY_PORT, ReplicaPair, replica_pair, unavailable_reason
from tests.schedule_factories import WorkingHoursFactory
from vitalbridge import create_app
from vitalbridge.demo import PROVIDERS as DEMO_PROVIDERS
from vitalbridge.messaging.consistency import ConsistencyToken
from vitalbridge.messaging.replica import lsn_value

pytestmark = pytest.mark.skipif(unavailable_reason() is not None,
                                reason=unavailable_reason() or "")

NY = ZoneInfo("America/New_York")
NOT_YET = "urn:vitalbridge:problem:not-yet-consistent"
TOKEN = "Consistency-Token"


@pytest.fixture(scope="module")
def pair() -> Iterator[ReplicaPair]:
    with replica_pair() as made:
        yield made


@pytest.fixture(scope="module")
def pair_url(pair):  # type: ignore[no-untyped-def]
    """A migrated database on the pair's primary (this module's own, not the suite's)."""
    with database.migrated_database(pair.url(PRIMARY_PORT)) as url:
        yield url


def _app(pair_url: str, **settings):  # type: ignore[no-untyped-def]
    replica_url = make_url(pair_url).set(username="vitalbridge_app", port=STANDBY_PORT)
    return create_app(database_url=pair_url, env="testing",
                      database_replica_url=replica_url.render_as_string(), **settings)


@pytest.fixture(scope="module")
def replica_app(pair_url):  # type: ignore[no-untyped-def]
    """Queries on the standby; a token the standby has not replayed reads the primary."""
    made = _app(pair_url)
    yield made
    made.extensions["vitalbridge"].db.dispose()


@pytest.fixture(scope="module")
def strict_app(pair_url):  # type: ignore[no-untyped-def]
    """The same, with REPLICA_CATCH_UP_FALLBACK=503."""
    made = _app(pair_url, replica_catch_up_fallback="503")
    yield made
    made.extensions["vitalbridge"].db.dispose()


@pytest.fixture
def standby(pair, replica_app, strict_app):  # type: ignore[no-untyped-def]
    """The standby running and replaying, before and after each test."""
    def reset() -> None:
        pair.start_standby()
        pair.resume_replay()
        for each in (replica_app, strict_app):
            each.extensions["vitalbridge"].queries.replica_down_until = 0.0

    reset()
    yield pair
    reset()


@dataclass(frozen=True)
class Clinic:
    tenant: object
    provider: object
    patient: object


@pytest.fixture
def clinic(replica_app, standby) -> Clinic:  # type: ignore[no-untyped-def]
    """A tenant with a provider (working hours) and a patient, replayed by the standby."""
    with replica_app.app_context():
        tenant = TenantFactory()
        provider = ProviderFactory(tenant_id=tenant.id)
        WorkingHoursFactory(tenant_id=tenant.id, provider_id=provider.id)
        patient = PatientFactory(tenant_id=tenant.id)
    catch_up(replica_app)
    standby.caught_up()
    return Clinic(tenant, provider, patient)


def book(client, clinic: Clinic, **headers):  # type: ignore[no-untyped-def]
    start = next_monday().replace(hour=9, tzinfo=NY)
    response = client.post("/api/v1/appointments", headers={
        **bearer(clinic.tenant.admin_key), **headers}, json={
        "provider_id": str(clinic.provider.id), "patient_id": str(clinic.patient.id),
        "start": start.isoformat(), "duration": 30})
    assert response.status_code == 201, response.json
    return response


def get(client, clinic: Clinic, path: str, **headers):  # type: ignore[no-untyped-def]
    return client.get(path, headers={**bearer(clinic.tenant.admin_key), **headers})


@contextlib.contextmanager
def reads(app) -> Iterator[dict[str, list[str]]]:  # type: ignore[no-untyped-def]
    """The statements each of the app's engines ran inside the block, by server."""
    db = app.extensions["vitalbridge"].db
    seen: dict[str, list[str]] = {"primary": [], "replica": []}
    listeners = []
    for name, engine in (("primary", db.engine), ("replica", db.replica)):
        def record(conn, cursor, statement, *args, _name=name):  # type: ignore[no-untyped-def]
            seen[_name].append(statement)

        event.listen(engine, "before_cursor_execute", record)
        listeners.append((engine, record))
    try:
        yield seen
    finally:
        for engine, record in listeners:
            event.remove(engine, "before_cursor_execute", record)


def reading(seen: dict[str, list[str]], table: str) -> set[str]:
    """The servers that read ``table`` (FROM or JOIN it) in ``seen``."""
    return {server for server, statements in seen.items()
            if any(f" {table} " in f" {s.replace(chr(10), ' ')} " for s in statements)}


def primary_lsn(pair: ReplicaPair) -> str:
    with pair.connect(PRIMARY_PORT) as conn:
        return str(conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0])


def test_a_command_reply_token_carries_the_commit_lsn(replica_app, pair_url, clinic, standby):
    client = replica_app.test_client()
    before = primary_lsn(standby)
    booked = book(client, clinic, **{"Idempotency-Key": "first"})
    token = ConsistencyToken.decode(booked.headers[TOKEN])
    assert token.lsn is not None
    assert lsn_value(token.lsn) > lsn_value(before)
    assert lsn_value(token.lsn) <= lsn_value(primary_lsn(standby))
    # At or past the commit: replayed that far, the standby has the booking.
    with standby.connect(STANDBY_PORT, make_url(pair_url).database) as conn:
        while not conn.execute("SELECT pg_last_wal_replay_lsn() >= %s",
                               (token.lsn,)).fetchone()[0]:
            time.sleep(0.01)
        assert conn.execute("SELECT count(*) FROM appointments WHERE id = %s",
                            (booked.json["id"],)).fetchone()[0] == 1
    # An idempotent replay's token names a position past the first request's commit.
    replayed = book(client, clinic, **{"Idempotency-Key": "first"})
    assert replayed.headers["Idempotent-Replayed"] == "true"
    again = ConsistencyToken.decode(replayed.headers[TOKEN])
    assert again.lsn is not None
    assert lsn_value(again.lsn) >= lsn_value(token.lsn)


def test_with_replay_paused_a_token_query_reads_the_primary(replica_app, clinic, standby):
    client = replica_app.test_client()
    standby.pause_replay()
    booked = book(client, clinic)
    token, path = booked.headers[TOKEN], f"/api/v1/appointments/{booked.json['id']}"

    started = time.monotonic()
    with reads(replica_app) as seen:
        answer = get(client, clinic, path, **{TOKEN: token, "Prefer": "wait=1"})
    assert answer.status_code == 200, answer.json
    assert answer.json["id"] == booked.json["id"]
    assert 1.0 <= time.monotonic() - started < 3.0  # it waited for the replica first
    assert reading(seen, "appointments") == {"primary"}

    with reads(replica_app) as seen:
        unseen = get(client, clinic, path)  # no token: the replica, whatever its lag
    assert unseen.status_code == 404
    assert reading(seen, "appointments") == {"replica"}


def test_with_replay_paused_a_read_model_token_query_reads_the_primary(
        replica_app, clinic, standby):
    client = replica_app.test_client()
    standby.pause_replay()
    booked = book(client, clinic)
    catch_up(replica_app)  # the relay applies the booking to the read models, on the primary
    path = f"/api/v1/patients/{clinic.patient.id}/summary"

    with reads(replica_app) as seen:
        answer = get(client, clinic, path, **{TOKEN: booked.headers[TOKEN],
                                              "Prefer": "wait=0"})
    assert answer.status_code == 200, answer.json
    assert answer.json["next_appointment"]["id"] == booked.json["id"]
    assert reading(seen, "patient_summaries") == {"primary"}
    assert "replica_lag_seconds" not in answer.json["meta"]

    time.sleep(0.2)
    with reads(replica_app) as seen:
        lagging = get(client, clinic, path)
    assert lagging.status_code == 200
    assert reading(seen, "patient_summaries") == {"replica"}
    assert lagging.json["next_appointment"] is None
    meta = lagging.json["meta"]
    assert meta["status"] == "behind"
    assert meta["replica_lag_seconds"] >= 0.2
    assert meta["lag_seconds"] >= meta["replica_lag_seconds"]

    status = get(client, clinic, "/api/v1/sync-status").json["replica"]
    assert status["reachable"]
    assert status["in_recovery"]
    assert status["replay_paused"]
    assert status["lag_seconds"] >= 0.2
    assert lsn_value(status["received_lsn"]) > lsn_value(status["replayed_lsn"])


def test_a_read_model_token_query_waits_for_the_read_models_rows_on_the_replica(
        replica_app, clinic, standby):
    """The replica has replayed the booking but not the relay's later read-model rows:
    the token's own position is not enough for an answer from the read models."""
    client = replica_app.test_client()
    booked = book(client, clinic)
    standby.caught_up()
    standby.pause_replay()
    catch_up(replica_app)
    with reads(replica_app) as seen:
        answer = get(client, clinic, f"/api/v1/patients/{clinic.patient.id}/summary",
                     **{TOKEN: booked.headers[TOKEN], "Prefer": "wait=0"})
    assert answer.status_code == 200, answer.json
    assert answer.json["next_appointment"]["id"] == booked.json["id"]
    assert reading(seen, "patient_summaries") == {"primary"}


def test_the_strict_setting_answers_503_until_the_replica_has_replayed(
        replica_app, strict_app, clinic, standby):
    standby.pause_replay()
    booked = book(replica_app.test_client(), clinic)
    path = f"/api/v1/appointments/{booked.json['id']}"
    client = strict_app.test_client()

    started = time.monotonic()
    with reads(strict_app) as seen:
        refused = get(client, clinic, path, **{TOKEN: booked.headers[TOKEN],
                                               "Prefer": "wait=1"})
    assert refused.status_code == 503, refused.json
    assert refused.json["type"] == NOT_YET
    assert refused.headers["Retry-After"] == "1"
    assert 1.0 <= time.monotonic() - started < 3.0
    assert reading(seen, "appointments") == set()  # neither server answered

    standby.resume_replay()
    with reads(strict_app) as seen:
        answer = get(client, clinic, path, **{TOKEN: booked.headers[TOKEN],
                                              "Prefer": "wait=5"})
    assert answer.status_code == 200, answer.json
    assert reading(seen, "appointments") == {"replica"}


def test_after_resume_token_queries_are_served_by_the_replica(replica_app, clinic, standby):
    client = replica_app.test_client()
    standby.pause_replay()
    booked = book(client, clinic)
    catch_up(replica_app)
    token = booked.headers[TOKEN]
    standby.resume_replay()

    with reads(replica_app) as seen:
        answer = get(client, clinic, f"/api/v1/appointments/{booked.json['id']}",
                     **{TOKEN: token, "Prefer": "wait=5"})
        summary = get(client, clinic, f"/api/v1/patients/{clinic.patient.id}/summary",
                      **{TOKEN: token, "Prefer": "wait=5"})
    assert answer.status_code == 200, answer.json
    assert summary.status_code == 200, summary.json
    assert summary.json["next_appointment"]["id"] == booked.json["id"]
    assert reading(seen, "appointments") == {"replica"}
    assert reading(seen, "patient_summaries") == {"replica"}
    assert summary.json["meta"]["replica_lag_seconds"] == 0


def test_a_token_query_waits_for_the_replica_to_replay(replica_app, clinic, standby):
    client = replica_app.test_client()
    standby.pause_replay()
    booked = book(client, clinic)
    resume = threading.Timer(0.5, standby.resume_replay)
    resume.start()
    started = time.monotonic()
    try:
        with reads(replica_app) as seen:
            answer = get(client, clinic, f"/api/v1/appointments/{booked.json['id']}",
                         **{TOKEN: booked.headers[TOKEN], "Prefer": "wait=5"})
    finally:
        resume.join()
    assert answer.status_code == 200, answer.json
    assert 0.5 <= time.monotonic() - started < 4.0
    assert reading(seen, "appointments") == {"replica"}


def test_a_request_waiting_for_the_replica_holds_no_connection_between_checks(
        replica_app, clinic, standby):
    client = replica_app.test_client()
    standby.pause_replay()
    booked = book(client, clinic)
    pool = replica_app.extensions["vitalbridge"].db.replica.pool
    asking = threading.Thread(target=get, args=(
        client, clinic, f"/api/v1/appointments/{booked.json['id']}"),
        kwargs={TOKEN: booked.headers[TOKEN], "Prefer": "wait=2"})
    asking.start()
    held = []
    try:
        time.sleep(0.3)
        for _ in range(20):
            held.append(pool.checkedout())
            time.sleep(0.05)
    finally:
        asking.join()
    assert held.count(0) >= 15, held  # a check takes a connection for a moment only


def test_with_the_replica_stopped_queries_read_the_primary_and_readiness_is_degraded(
        replica_app, strict_app, clinic, standby):
    client = replica_app.test_client()
    booked = book(client, clinic)
    standby.stop_standby()
    path = f"/api/v1/appointments/{booked.json['id']}"

    for each, headers in ((replica_app, {}), (replica_app, {TOKEN: booked.headers[TOKEN]}),
                          (strict_app, {TOKEN: booked.headers[TOKEN]})):
        with reads(each) as seen:
            answer = get(each.test_client(), clinic, path, **headers)
        assert answer.status_code == 200, answer.json
        assert reading(seen, "appointments") == {"primary"}

    ready = client.get("/health/ready")
    assert ready.status_code == 200, ready.json
    assert ready.json["status"] == "degraded"
    assert not ready.json["checks"]["replica"]["ok"]
    assert ready.json["checks"]["database"]["ok"]
    assert get(client, clinic, "/api/v1/sync-status").json["replica"]["reachable"] is False


def test_a_command_reads_the_primary_not_the_lagging_replica(replica_app, clinic, standby):
    """Setting the hours of a provider added a moment ago: the command's own look-up of
    the provider must not read a replica that has not replayed the add (it was 404)."""
    client = replica_app.test_client()
    standby.pause_replay()
    added = client.post("/api/v1/providers", headers=bearer(clinic.tenant.admin_key), json={
        "given_name": "Ada", "family_name": "Lagging", "specialty": "Family Medicine"})
    assert added.status_code == 201, added.json
    hours = client.put(f"/api/v1/providers/{added.json['id']}/working-hours",
                       headers=bearer(clinic.tenant.admin_key),
                       json={"rules": [{"weekday": 0, "start": "09:00", "end": "17:00"}]})
    assert hours.status_code == 200, hours.json


def test_demo_seed_reads_what_it_wrote_while_the_replica_lags(pair_url, standby, tmp_path):
    """The seed adds providers, then looks them up to give them hours and book them.
    With replay paused, a replica read misses them (no hours, no bookings) and a second
    seed misses the clinic itself (its slug then taken: exit 1)."""
    app = _app(pair_url, var_dir=str(tmp_path))
    runner = app.test_cli_runner()
    standby.pause_replay()
    with reads(app) as seen:
        for _ in range(2):  # the second run finds everything in place
            result = runner.invoke(args=["demo", "seed"])
            assert result.exit_code == 0, result.output
    assert reading(seen, "providers") == {"primary"}
    standby.resume_replay()
    standby.caught_up()
    client = app.test_client()
    key = bearer((tmp_path / "demo-admin-key").read_text().strip())
    providers = client.get("/api/v1/providers", headers=key).json["items"]
    assert len(providers) == len(DEMO_PROVIDERS)
    for provider in providers:
        hours = client.get(f"/api/v1/providers/{provider['id']}/working-hours", headers=key)
        assert hours.status_code == 200, hours.json
    booked = client.get("/api/v1/appointments", headers=key).json["items"]
    assert len(booked) == len(DEMO_PROVIDERS)
    app.extensions["vitalbridge"].db.dispose()


def test_keys_create_finds_a_tenant_created_a_moment_ago(pair_url, standby):
    """tenants create, then keys create --tenant: the slug is looked up on the primary."""
    app = _app(pair_url)
    runner = app.test_cli_runner()
    standby.pause_replay()
    created = runner.invoke(args=["tenants", "create", "--name", "Fresh", "--slug", "fresh",
                                  "--timezone", "UTC"])
    assert created.exit_code == 0, created.output
    key = runner.invoke(args=["keys", "create", "--tenant", "fresh", "--role", "staff"])
    assert key.exit_code == 0, key.output
    app.extensions["vitalbridge"].db.dispose()
