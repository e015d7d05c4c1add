"""Read models over HTTP: meta, read-your-writes with Consistency-Token, sync status,
conditional GETs, and the rebuild command."""

import threading
import time
import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from tests.appointment_factories import next_monday
from tests.conftest import bearer
from tests.patient_factories import PatientFactory
from tests.provider_factories import ProviderFactory
from tests.read_model_helpers import assert_read_models_match, catch_up, stored_rows
from tests.schedule_factories import WorkingHoursFactory
from vitalbridge.messaging.consistency import ConsistencyToken

NY = ZoneInfo("America/New_York")
MONDAY = next_monday()
NOT_YET = "urn:vitalbridge:problem:not-yet-consistent"


def at(hour, minute=0, day=0):
    return (MONDAY + timedelta(days=day)).replace(hour=hour, minute=minute, tzinfo=NY)


@pytest.fixture
def provider(app, tenant):
    with app.app_context():
        made = ProviderFactory(tenant_id=tenant.id, given_name="Ada", family_name="Lovelace",
                               specialty="General practice")
        WorkingHoursFactory(tenant_id=tenant.id, provider_id=made.id)
        return made


@pytest.fixture
def patient(app, tenant):
    with app.app_context():
        return PatientFactory(tenant_id=tenant.id, given_name="Grace", family_name="Hopper")


def book(client, tenant, provider, patient, start, **headers):
    response = client.post("/api/v1/appointments", headers={
        **bearer(tenant.admin_key), **headers}, json={
        "provider_id": str(provider.id), "patient_id": str(patient.id),
        "start": start.isoformat(), "duration": 30})
    assert response.status_code == 201, response.json
    return response


def summary(client, tenant, patient, **headers):
    return client.get(f"/api/v1/patients/{patient.id}/summary",
                      headers={**bearer(tenant.admin_key), **headers})


# Read your writes --------------------------------------------------------------------


def test_with_the_relay_stopped_the_summary_is_behind_and_the_token_waits(
        app, client, tenant, provider, patient):
    catch_up(app)
    booked = book(client, tenant, provider, patient, at(9))
    token = booked.headers["Consistency-Token"]

    first = summary(client, tenant, patient)
    assert first.status_code == 200
    assert first.json["next_appointment"] is None  # the booking is not applied yet
    assert first.json["meta"]["status"] == "behind"
    time.sleep(0.3)
    later = summary(client, tenant, patient).json["meta"]
    assert later["status"] == "behind"
    assert later["lag_seconds"] > first.json["meta"]["lag_seconds"]
    assert later["as_of"] == first.json["meta"]["as_of"]  # what waits has not moved

    started = time.monotonic()
    waited = summary(client, tenant, patient, **{"Consistency-Token": token,
                                                 "Prefer": "wait=1"})
    assert 1.0 <= time.monotonic() - started < 3.0
    assert waited.status_code == 503
    assert waited.json["type"] == NOT_YET
    assert waited.headers["Retry-After"] == "1"

    catch_up(app)
    ready = summary(client, tenant, patient, **{"Consistency-Token": token})
    assert ready.status_code == 200
    assert ready.json["next_appointment"]["id"] == booked.json["id"]
    assert ready.json["upcoming_count"] == 1
    assert ready.json["meta"]["status"] == "current"
    assert ready.json["meta"]["lag_seconds"] == 0


def test_a_token_is_answered_as_soon_as_the_relay_catches_up(app, client, tenant, provider,
                                                             patient):
    catch_up(app)
    token = book(client, tenant, provider, patient, at(9)).headers["Consistency-Token"]
    relay = threading.Timer(0.5, catch_up, args=(app,))
    relay.start()
    started = time.monotonic()
    try:
        answer = summary(client, tenant, patient, **{"Consistency-Token": token,
                                                     "Prefer": "wait=8"})
    finally:
        relay.join()
    assert answer.status_code == 200, answer.json
    assert answer.json["upcoming_count"] == 1
    assert 0.5 <= time.monotonic() - started < 5


def test_a_query_without_the_header_never_waits(app, client, tenant, provider, patient):
    catch_up(app)
    book(client, tenant, provider, patient, at(9))
    started = time.monotonic()
    assert summary(client, tenant, patient, Prefer="wait=5").status_code == 200
    assert time.monotonic() - started < 0.5


def test_every_command_reply_carries_a_token_and_a_replay_too(client, tenant, provider,
                                                              patient):
    first = book(client, tenant, provider, patient, at(10), **{"Idempotency-Key": "k-1"})
    again = book(client, tenant, provider, patient, at(10), **{"Idempotency-Key": "k-1"})
    assert again.headers["Idempotent-Replayed"] == "true"
    tokens = [ConsistencyToken.decode(r.headers["Consistency-Token"]) for r in (first, again)]
    assert {token.tenant_id for token in tokens} == {tenant.id}
    assert tokens[1].written_at >= tokens[0].written_at  # the replay's covers the first
    patched = client.patch(f"/api/v1/patients/{patient.id}", json={"given_name": "Amazing"},
                           headers=bearer(tenant.admin_key))
    assert patched.status_code == 200, patched.json
    assert "Consistency-Token" in patched.headers


@pytest.mark.parametrize("token", ["nonsense", "x" * 300, "é",
                                   ConsistencyToken(uuid.uuid4(), MONDAY.replace(
                                       tzinfo=NY)).encode()])
def test_a_malformed_or_foreign_token_is_400(client, tenant, patient, token):
    answer = summary(client, tenant, patient, **{"Consistency-Token": token})
    assert answer.status_code == 400
    assert answer.json["type"] == "urn:vitalbridge:problem:invalid-consistency-token"
    assert list(answer.json["errors"]) == ["Consistency-Token"]


def test_another_tenants_token_is_400(app, client, tenant, other_tenant, provider, patient):
    with app.app_context():
        theirs = ProviderFactory(tenant_id=other_tenant.id)
        WorkingHoursFactory(tenant_id=other_tenant.id, provider_id=theirs.id)
        their_patient = PatientFactory(tenant_id=other_tenant.id)
    token = book(client, other_tenant, theirs, their_patient, at(9)).headers[
        "Consistency-Token"]
    assert summary(client, tenant, patient,
                   **{"Consistency-Token": token}).status_code == 400


def test_prefer_wait_is_capped_at_ten_seconds(app):
    from vitalbridge.http.consistency import requested_wait

    for header, expected in (("wait=3", 3.0), ("respond-async, wait=600", 10.0),
                             ("wait=abc", 2.0), ("", 2.0), ("handling=lenient", 2.0)):
        with app.test_request_context(headers={"Prefer": header}):
            assert requested_wait() == expected, header


# The summary's meta and 404 ------------------------------------------------------------


def test_a_patient_not_yet_applied_is_404_saying_the_read_model_is_behind(
        app, client, tenant):
    registered = client.post("/api/v1/patients", headers=bearer(tenant.admin_key), json={
        "given_name": "Ada", "family_name": "Byron", "birth_date": "1915-12-10"})
    assert registered.status_code == 201, registered.json
    patient_id = registered.json["id"]
    missing = client.get(f"/api/v1/patients/{patient_id}/summary",
                         headers=bearer(tenant.admin_key))
    assert missing.status_code == 404
    assert "behind" in missing.json["detail"]
    found = client.get(f"/api/v1/patients/{patient_id}/summary", headers={
        **bearer(tenant.admin_key), "Consistency-Token": registered.headers[
            "Consistency-Token"], "Prefer": "wait=0"})
    assert found.status_code == 503  # wait=0: no waiting, and it is not applied
    catch_up(app)
    assert client.get(f"/api/v1/patients/{patient_id}/summary",
                      headers=bearer(tenant.admin_key)).status_code == 200


def test_a_renamed_provider_shows_on_the_summary_and_the_day_sheet(
        app, client, tenant, provider, patient):
    book(client, tenant, provider, patient, at(9))
    renamed = client.patch(f"/api/v1/providers/{provider.id}", json={"given_name": "Augusta"},
                           headers=bearer(tenant.admin_key))
    assert renamed.status_code == 200, renamed.json
    catch_up(app)
    assert summary(client, tenant, patient).json["next_appointment"]["provider_name"] == (
        "Augusta Lovelace")
    sheet = day_sheet(client, tenant, date=at(9).date().isoformat())
    assert [line["provider_name"] for line in sheet["items"]] == ["Augusta Lovelace"]
    assert_read_models_match(app, tenant.id)


def test_status_changes_refresh_their_columns_and_the_last_visit_names_the_patient(
        app, client, tenant, provider, patient):
    visit, later = (book(client, tenant, provider, patient, at(hour)).json["id"]
                    for hour in (9, 10))
    for step in ("check-in", "complete"):
        answered = client.post(f"/api/v1/appointments/{visit}/{step}",
                               headers=bearer(tenant.admin_key))
        assert answered.status_code == 200, answered.json
    catch_up(app)
    assert summary(client, tenant, patient).json["last_visit"]["patient_name"] == (
        "Grace Hopper")
    # A rename (the whole row) and a cancellation (its visit columns alone) in one batch.
    renamed = client.patch(f"/api/v1/patients/{patient.id}", json={"given_name": "Amazing"},
                           headers=bearer(tenant.admin_key))
    assert renamed.status_code == 200, renamed.json
    cancelled = client.post(f"/api/v1/appointments/{later}/cancel", json={"reason": "ill"},
                            headers=bearer(tenant.admin_key))
    assert cancelled.status_code == 200, cancelled.json
    catch_up(app)
    last_visit = summary(client, tenant, patient).json["last_visit"]
    assert (last_visit["id"], last_visit["patient_name"], last_visit["provider_name"]) == (
        visit, "Amazing Hopper", "Ada Lovelace")
    lines = day_sheet(client, tenant, date=at(9).date().isoformat())["items"]
    assert [(line["id"], line["status"]) for line in lines] == [
        (visit, "completed"), (later, "cancelled")]
    assert_read_models_match(app, tenant.id)


# The day sheet ---------------------------------------------------------------------------


def day_sheet(client, tenant, key=None, **params):
    response = client.get("/api/v1/day-sheet", query_string=params,
                          headers=bearer(key or tenant.admin_key))
    assert response.status_code == 200, response.json
    return response.json


@pytest.fixture
def clinic_day(app, client, tenant, provider, patient):
    """Monday: Ada sees Grace at 9:00 and 11:00, Carl (cardiology) sees Linus at 10:00."""
    with app.app_context():
        carl = ProviderFactory(tenant_id=tenant.id, given_name="Carl", family_name="Sagan",
                               specialty="Cardiology")
        WorkingHoursFactory(tenant_id=tenant.id, provider_id=carl.id)
        linus = PatientFactory(tenant_id=tenant.id, given_name="Linus",
                               family_name="Pauling")
    ids = [book(client, tenant, provider, patient, at(9)).json["id"],
           book(client, tenant, carl, linus, at(10)).json["id"],
           book(client, tenant, provider, patient, at(11)).json["id"]]
    book(client, tenant, provider, patient, at(9, day=1))  # Tuesday: not on Monday's sheet
    catch_up(app)
    return {"ids": ids, "carl": carl, "linus": linus}


def test_the_day_sheet_lists_the_day_in_time_order_with_patients(client, tenant, provider,
                                                                  patient, clinic_day):
    sheet = day_sheet(client, tenant, date=at(9).date().isoformat())
    assert [line["id"] for line in sheet["items"]] == clinic_day["ids"]
    first = sheet["items"][0]
    assert (first["provider_name"], first["status"], first["timezone"]) == (
        "Ada Lovelace", "booked", provider.timezone)
    assert first["patient"]["name"] == "Grace Hopper"
    assert first["patient"]["mrn"] == patient.mrn
    assert first["patient"]["age"] >= 0
    assert (first["patient"]["cancellations"], first["patient"]["no_shows"]) == (0, 0)
    assert sheet["meta"]["status"] == "current"
    assert sheet["next_cursor"] is None


def test_the_day_sheet_narrows_to_providers_specialty_and_status(client, tenant, provider,
                                                                 clinic_day):
    day = at(9).date().isoformat()
    carls = day_sheet(client, tenant, date=day, specialty="cardiology")
    assert [line["id"] for line in carls["items"]] == [clinic_day["ids"][1]]
    adas = day_sheet(client, tenant, date=day, provider_id=str(provider.id))
    assert [line["id"] for line in adas["items"]] == [clinic_day["ids"][0],
                                                      clinic_day["ids"][2]]
    client.post(f"/api/v1/appointments/{clinic_day['ids'][0]}/cancel", json={"reason": "ill"},
                headers=bearer(tenant.admin_key))
    catch_up(client.application)
    cancelled = day_sheet(client, tenant, date=day, status="cancelled")
    assert [line["id"] for line in cancelled["items"]] == [clinic_day["ids"][0]]


def test_the_day_sheet_pages_with_a_cursor(client, tenant, clinic_day):
    day = at(9).date().isoformat()
    first = day_sheet(client, tenant, date=day, limit=2)
    second = day_sheet(client, tenant, date=day, limit=2, cursor=first["next_cursor"])
    assert [line["id"] for line in first["items"] + second["items"]] == clinic_day["ids"]
    assert second["next_cursor"] is None


def test_a_provider_key_sees_only_its_own_day(app, client, tenant, clinic_day):
    from tests.factories import ApiKeyFactory
    from vitalbridge.messaging.messages import Role

    with app.app_context():
        carls_key = ApiKeyFactory(tenant_id=tenant.id, role=Role.PROVIDER,
                                  provider_id=clinic_day["carl"].id).key
    sheet = day_sheet(client, tenant, key=carls_key, date=at(9).date().isoformat())
    assert [line["id"] for line in sheet["items"]] == [clinic_day["ids"][1]]


def test_a_day_sheet_page_is_one_statement(app, client, tenant, clinic_day):
    from tests.conftest import data_reads

    with data_reads(app) as reads:
        day_sheet(client, tenant, date=at(9).date().isoformat())
    assert len([s for s in reads if "day_sheet" in s]) == 1
    assert len(reads) == 2, reads  # the page and the key check


@pytest.mark.parametrize("params", [{}, {"date": "2027-02-30"}, {"date": "tomorrow"},
                                    {"date": "2027-03-01", "status": "lost"},
                                    {"date": "2027-03-01", "provider_id": "nope"},
                                    {"date": "2027-03-01", "limit": 0},
                                    {"date": "2027-03-01", "cursor": "forged"},
                                    {"date": "2027-03-01", "dat": "x"}])
def test_bad_day_sheet_arguments_are_422_naming_them(client, tenant, params):
    response = client.get("/api/v1/day-sheet", query_string=params,
                          headers=bearer(tenant.admin_key))
    assert response.status_code == 422, response.json
    assert response.json["errors"]


def test_another_tenants_day_sheet_is_empty(client, other_tenant, clinic_day):
    assert day_sheet(client, other_tenant, date=at(9).date().isoformat())["items"] == []


# Conditional GETs ----------------------------------------------------------------------------


def test_if_none_match_answers_304_until_the_answer_changes(app, client, tenant, patient):
    catch_up(app)
    url = f"/api/v1/patients/{patient.id}"
    for path in (url, url + "/summary"):
        first = client.get(path, headers=bearer(tenant.admin_key))
        tag = first.headers["ETag"]
        again = client.get(path, headers={**bearer(tenant.admin_key), "If-None-Match": tag})
        assert again.status_code == 304, path
        assert again.data == b""
        assert again.headers["ETag"] == tag
    client.patch(url, json={"given_name": "Amazing Grace"}, headers=bearer(tenant.admin_key))
    catch_up(app)
    for path in (url, url + "/summary"):
        changed = client.get(path, headers={**bearer(tenant.admin_key),
                                            "If-None-Match": first.headers["ETag"]})
        assert changed.status_code == 200, path


# Sync status, the CLI -------------------------------------------------------------------------


def test_sync_status_says_what_is_behind(app, client, tenant, provider, patient):
    catch_up(app)
    book(client, tenant, provider, patient, at(9))
    status = client.get("/api/v1/sync-status", headers=bearer(tenant.admin_key))
    assert status.status_code == 200
    models = {m["name"]: m for m in status.json["read_models"]}
    assert set(models) == {"patient_summaries", "day_sheet", "provider_days"}
    assert models["day_sheet"]["status"] == "behind"
    assert models["day_sheet"]["backlog"] == 1
    assert status.json["relay"]["backlog"] == 1
    catch_up(app)
    models = {m["name"]: m for m in client.get(
        "/api/v1/sync-status", headers=bearer(tenant.admin_key)).json["read_models"]}
    assert models["day_sheet"]["status"] == "current"
    assert models["day_sheet"]["backlog"] == 0
    assert models["day_sheet"]["last_event"]["applied_at"]
    assert models["day_sheet"]["needs_rebuild"] is False


def test_sync_status_is_for_admins(app, client, tenant):
    from tests.factories import ApiKeyFactory
    from vitalbridge.messaging.messages import Role

    with app.app_context():
        staff = ApiKeyFactory(tenant_id=tenant.id, role=Role.STAFF).key
    assert client.get("/api/v1/sync-status", headers=bearer(staff)).status_code == 403


def test_an_unbuilt_read_model_is_behind_until_rebuilt(app, client, tenant, provider, patient,
                                                      owner_engine):
    catch_up(app)
    book(client, tenant, provider, patient, at(9))
    catch_up(app)
    with owner_engine.begin() as conn:  # as a migration adding a read model leaves it
        conn.execute(text("UPDATE read_model_checkpoints SET built_at = NULL"))
        conn.execute(text("DELETE FROM day_sheet"))
    assert day_sheet(client, tenant, date=at(9).date().isoformat())["meta"]["status"] == (
        "behind")
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["read-models", "status", "--tenant", tenant.slug])
    assert "never built" in listed.output
    rebuilt = runner.invoke(args=["read-models", "rebuild", "--all", "--if-needed"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert f"day_sheet in {tenant.slug}: 1 rows" in rebuilt.output
    again = runner.invoke(args=["read-models", "rebuild", "--all", "--if-needed"])
    assert (again.exit_code, again.output) == (0, "")  # nothing needs it any more
    sheet = day_sheet(client, tenant, date=at(9).date().isoformat())
    assert (len(sheet["items"]), sheet["meta"]["status"]) == (1, "current")
    assert_read_models_match(app, tenant.id)


def test_a_rebuild_repairs_rows_that_drifted(app, client, tenant, provider, patient,
                                             owner_engine):
    book(client, tenant, provider, patient, at(9))
    catch_up(app)
    with owner_engine.begin() as conn:
        conn.execute(text("UPDATE day_sheet SET provider_name = 'Someone Else'"))
        conn.execute(text("DELETE FROM patient_summaries"))
    assert stored_rows(app, tenant.id, app.extensions["vitalbridge"].read_model(
        "patient_summaries")) == {}
    result = app.test_cli_runner().invoke(args=["read-models", "rebuild", "--all"])
    assert result.exit_code == 0, result.output
    assert_read_models_match(app, tenant.id)


def test_the_rebuild_command_refuses_a_second_rebuild_and_unknown_names(app):
    from vitalbridge.messaging.rebuild import exclusive

    svc = app.extensions["vitalbridge"]
    runner = app.test_cli_runner()
    with exclusive(svc.db, svc.read_model("day_sheet")):
        busy = runner.invoke(args=["read-models", "rebuild", "day_sheet"])
    assert busy.exit_code == 1
    assert "already running" in busy.output
    assert runner.invoke(args=["read-models", "rebuild", "nothing"]).exit_code == 2
    assert runner.invoke(args=["read-models", "rebuild"]).exit_code == 2


def test_the_relay_reports_each_read_models_lag_backlog_and_last_apply(
        app, client, tenant, provider, patient):
    from prometheus_client import REGISTRY

    from vitalbridge.messaging.cli import build_relay

    def sample(name):
        return REGISTRY.get_sample_value(name, {"read_model": "day_sheet"})

    catch_up(app)
    book(client, tenant, provider, patient, at(9))
    time.sleep(0.2)
    with app.app_context():
        relay = build_relay()
    relay._observe_backlog()
    assert sample("vitalbridge_read_model_backlog") == 1
    assert sample("vitalbridge_read_model_lag_seconds") >= 0.2
    relay.drain()
    relay._observe_backlog()
    assert sample("vitalbridge_read_model_backlog") == 0
    assert sample("vitalbridge_read_model_lag_seconds") == 0
    assert time.time() - sample("vitalbridge_read_model_last_applied_timestamp_seconds") < 60


# The document ---------------------------------------------------------------------------

READ_MODEL_GETS = ("/api/v1/patients/{patient_id}/summary", "/api/v1/day-sheet",
                   "/api/v1/reports/utilization")


def _resolved(spec, item):
    if "$ref" not in item:
        return item
    *_, kind, name = item["$ref"].split("/")
    return spec["components"][kind][name]


def test_openapi_documents_the_read_model_answers_and_their_headers(client):
    spec = client.get("/openapi.json").json
    for path in READ_MODEL_GETS:
        operation = spec["paths"][path]["get"]
        names = {_resolved(spec, p)["name"] for p in operation["parameters"]}
        assert {"Consistency-Token", "Prefer", "If-None-Match"} <= names, path
        responses = operation["responses"]
        assert {"200", "304", "400", "503"} <= set(responses), path
        assert "Retry-After" in responses["503"]["headers"], path
        assert "ETag" in responses["200"]["headers"], path
        schema = _resolved(spec, responses["200"]["content"]["application/json"]["schema"])
        assert "meta" in schema["properties"], path
    for path, methods in spec["paths"].items():
        for method in ("post", "put", "patch", "delete"):
            if method in methods and path.startswith("/api/v1/") \
                    and not path.startswith("/api/v1/tenants"):
                ok = next(r for s, r in methods[method]["responses"].items()
                          if s.startswith("2"))
                assert "Consistency-Token" in ok.get("headers", {}), (method, path)
