"""No patient data in any log line (hardening, item 2): a patient whose every field holds
a canary value goes through successes, refusals, a database error, a relay failure and a
failed scheduled job, and no canary appears in anything the app, relay or scheduler logged.
"""

from datetime import timedelta

import pytest
from sqlalchemy import event

from tests.conftest import bearer
from tests.factories import TenantFactory
from tests.relay_helpers import drain_with_a_failing_subscriber
from vitalbridge import create_app
from vitalbridge.messaging.cli import build_relay
from vitalbridge.messaging.parking import RetryPolicy
from vitalbridge.scheduler import Job, run_job

PATIENT = {
    "given_name": "Quillonia", "family_name": "Vexmoreton", "birth_date": "1931-02-17",
    "sex": "female", "email": "quillonia.vexmoreton@example.org", "phone": "+1 202 555 0147",
    "mrn": "QVX-4471",
    "address": {"line": "17 Zephyrwick Lane", "city": "Marrowdale", "postal_code": "90817",
                "country": "US"},
}
CANARIES = ["Quillonia", "Vexmoreton", "1931-02-17", "quillonia.vexmoreton", "5550147",
            "QVX-4471", "Zephyrwick", "Marrowdale", "90817"]


@pytest.fixture
def logged(owner_url, capsys):
    """Makes an app whose every log line (JSON on stderr) the test reads back. Made in
    the test itself: the app's log handler writes to the stderr of the moment."""
    made = []

    def make():
        made.append(create_app(database_url=owner_url, env="testing",
                               outbox_poll_seconds=30.0))
        return made[-1], lambda: capsys.readouterr().err

    yield make
    for app in made:
        app.extensions["vitalbridge"].db.dispose()


def _assert_no_canary(output):
    assert output.count("\n") > 10, "nothing was logged: the test would prove nothing"
    found = [canary for canary in CANARIES if canary.lower() in output.lower()]
    assert not found, f"{found} in the logs:\n{output}"


def _successes_and_refusals(client, key):
    created = client.post("/api/v1/patients", json=PATIENT, headers=bearer(key))
    assert created.status_code == 201, created.json
    patient = f"/api/v1/patients/{created.json['id']}"
    assert client.get(patient, headers=bearer(key)).status_code == 200
    for query in ("q=vexmoreton quillonia", "birth_date=1931-02-17", "phone=2025550147",
                  "mrn=QVX-4471", "limit=1"):
        assert client.get(f"/api/v1/patients?{query}", headers=bearer(key)).status_code == 200
    changed = client.patch(patient, json={"address": {**PATIENT["address"], "city": "Marrowdale"},
                                          "phone": "+1 202 555 0147"}, headers=bearer(key))
    assert changed.status_code == 200, changed.json
    again = {key_: value for key_, value in PATIENT.items() if key_ != "mrn"}
    assert client.post("/api/v1/patients", json=again, headers=bearer(key)).status_code == 409
    assert client.post("/api/v1/patients", json=PATIENT, headers=bearer(key)).status_code == 409
    bad = client.patch(patient, json={"email": "Quillonia@@Vexmoreton", "phone": "Vexmoreton"},
                       headers=bearer(key))
    assert bad.status_code == 422
    assert client.get("/api/v1/patients?q=Quillonia%00", headers=bearer(key)).status_code == 422
    return created.json["id"]


def _database_error(app, client, key):
    """A search whose statement fails with the database quoting the searched name."""
    engine = app.extensions["vitalbridge"].db.engine

    def quote_the_name(conn, cursor, statement, parameters, context, executemany):
        if "patients" in statement and "Vexmoreton" in str(parameters):
            cursor.execute("SELECT CAST(%s AS regclass)", ["Vexmoreton"])

    event.listen(engine, "before_cursor_execute", quote_the_name)
    try:
        failed = client.get("/api/v1/patients?q=Vexmoreton", headers=bearer(key))
    finally:
        event.remove(engine, "before_cursor_execute", quote_the_name)
    assert failed.status_code == 500
    assert "Vexmoreton" not in failed.get_data(as_text=True)


def _relay_failure(app):
    delivered = drain_with_a_failing_subscriber(
        app, "canary-refuser", "patient.created",
        lambda envelope: ValueError(f"cannot file {envelope['data']}"),  # quotes the event
        RetryPolicy(max_attempts=1, base_seconds=0.0))
    assert delivered >= 1


def _failed_job(app):
    def leaky_job():
        raise RuntimeError("could not remind Quillonia Vexmoreton at +1 202 555 0147")

    with app.app_context():
        engine = build_relay().engine
    job = Job("leaky_job", leaky_job, timedelta(hours=1))
    run_job(app, engine, job, "test")  # logged, not raised: the scheduler goes on


def test_no_canary_reaches_any_log(logged):
    app, read_logs = logged()
    with app.app_context():
        tenant = TenantFactory()
    client = app.test_client()
    _successes_and_refusals(client, tenant.admin_key)
    _database_error(app, client, tenant.admin_key)
    _relay_failure(app)
    _failed_job(app)
    output = read_logs()
    _assert_no_canary(output)
    assert '"unhandled error"' in output  # the database error was logged ...
    assert "ProgrammingError (SQLSTATE 42P01)" in output  # ... by its class
    assert '"scheduled job failed"' in output
    assert '"delivery failed"' in output
