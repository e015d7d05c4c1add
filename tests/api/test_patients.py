"""Patients through HTTP: register, update, read, list; rules, roles, events, isolation."""

import base64
import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from tests.appointment_factories import AppointmentFactory, next_monday
from tests.conftest import bearer
from tests.factories import ApiKeyFactory
from tests.patient_factories import PatientFactory
from tests.provider_factories import ProviderFactory
from vitalbridge.messaging.messages import Principal, Role
from vitalbridge.patient.messages import GetPatients
from vitalbridge.patient.mrn import check_symbol, is_generated_mrn

BODY = {
    "given_name": "Ana", "family_name": "Souza", "birth_date": "1984-03-02", "sex": "female",
    "email": "ana.souza@example.org", "phone": "(202) 555-0143",
    "address": {"line": "12 Elm St", "city": "Springfield", "postal_code": "62701",
                "country": "us"},
}
GENERATED_MRN = re.compile(r"^[0-9A-HJKMNP-TV-Z]{8}$")


def register(client, key, **overrides):
    return client.post("/api/v1/patients", json={**BODY, **overrides}, headers=bearer(key))


def patch(client, key, patient_id, body, **headers):
    return client.patch(f"/api/v1/patients/{patient_id}", json=body,
                        headers={**bearer(key), **headers})


def outbox(owner_engine, event_type):
    with owner_engine.connect() as conn:
        return conn.execute(text("SELECT envelope FROM outbox WHERE type = :t ORDER BY seq"),
                            {"t": event_type}).scalars().all()


def count(owner_engine, sql):
    with owner_engine.connect() as conn:
        return conn.execute(text(sql)).scalar_one()


def key_with_role(app, tenant, role):
    with app.app_context():
        provider_id = uuid.uuid4() if role == Role.PROVIDER else None
        return ApiKeyFactory(tenant_id=tenant.id, role=role, provider_id=provider_id).key


# Register ----------------------------------------------------------------------------


def test_register_answers_id_version_and_mrn_and_the_patient_reads_back(client, tenant):
    created = register(client, tenant.admin_key)
    assert created.status_code == 201
    assert set(created.json) == {"id", "version", "mrn"}
    assert created.json["version"] == 1
    assert created.headers["Location"].endswith(f"/api/v1/patients/{created.json['id']}")

    one = client.get(created.headers["Location"], headers=bearer(tenant.admin_key))
    assert one.status_code == 200
    assert one.headers["ETag"] == '"1"'
    body = one.json
    assert body["mrn"] == created.json["mrn"]
    assert (body["given_name"], body["family_name"], body["birth_date"]) == (
        "Ana", "Souza", "1984-03-02")
    assert body["phone"] == "+12025550143"
    assert body["address"] == {"line": "12 Elm St", "city": "Springfield",
                               "postal_code": "62701", "country": "US"}
    assert body["sex"] == "female"
    assert body["updated_at"].endswith("Z")
    assert body["created_at"].endswith("Z")


def test_only_the_required_fields_are_needed(client, tenant):
    created = client.post("/api/v1/patients", headers=bearer(tenant.admin_key), json={
        "given_name": "  Mary   Ann ", "family_name": "Lee", "birth_date": "2001-07-15"})
    assert created.status_code == 201
    body = client.get(created.headers["Location"], headers=bearer(tenant.admin_key)).json
    assert body["given_name"] == "Mary Ann"
    assert (body["sex"], body["email"], body["phone"], body["address"]) == (
        "unknown", None, None, None)


def test_register_emits_patient_created(client, tenant, owner_engine):
    created = register(client, tenant.admin_key).json
    (envelope,) = outbox(owner_engine, "patient.created")
    assert envelope["aggregate_type"] == "patient"
    assert envelope["aggregate_id"] == created["id"]
    assert envelope["tenant_id"] == str(tenant.id)
    assert envelope["actor"]["role"] == "admin"
    assert envelope["data"] == {
        "mrn": created["mrn"], "given_name": "Ana", "family_name": "Souza",
        "birth_date": "1984-03-02", "sex": "female", "email": "ana.souza@example.org",
        "phone": "+12025550143",
        "address": {"line": "12 Elm St", "city": "Springfield", "postal_code": "62701",
                    "country": "US"},
    }


def test_generated_mrns_are_well_formed_unique_and_recorded(client, tenant, owner_engine):
    mrns = [register(client, tenant.admin_key, given_name=f"Ana{chr(97 + n)}").json["mrn"]
            for n in range(20)]
    assert all(GENERATED_MRN.match(m) and is_generated_mrn(m) for m in mrns), mrns
    assert len(set(mrns)) == 20
    with owner_engine.connect() as conn:
        issued = set(conn.execute(text("SELECT mrn FROM patient_mrns")).scalars())
    assert issued == set(mrns)


def test_the_check_symbol_catches_a_mistyped_symbol():
    assert is_generated_mrn("7KQ2M9X" + check_symbol("7KQ2M9X"))
    assert not is_generated_mrn("7KQ2M8X" + check_symbol("7KQ2M9X"))
    assert not is_generated_mrn("K7Q2M9X" + check_symbol("7KQ2M9X"))
    assert not is_generated_mrn("7KQ2M9XI")


def test_a_supplied_mrn_is_kept_upper_case_and_a_taken_one_is_409(client, tenant,
                                                                   owner_engine):
    first = register(client, tenant.admin_key, mrn=" legacy-0042 ")
    assert first.status_code == 201
    assert first.json["mrn"] == "LEGACY-0042"
    taken = register(client, tenant.admin_key, given_name="Other", mrn="Legacy-0042")
    assert taken.status_code == 409
    assert taken.json["type"].endswith("mrn-taken")
    assert "mrn" in taken.json["errors"]
    assert count(owner_engine, "SELECT count(*) FROM patients") == 1


def test_a_generated_mrn_cannot_be_supplied_again(client, tenant):
    generated = register(client, tenant.admin_key).json["mrn"]
    again = register(client, tenant.admin_key, given_name="Bea", mrn=generated.lower())
    assert again.status_code == 409
    assert again.json["type"].endswith("mrn-taken")


def test_an_mrn_is_never_issued_again_even_after_its_patient_is_gone(client, tenant,
                                                                      owner_engine):
    register(client, tenant.admin_key, mrn="A-1")
    with owner_engine.begin() as conn:
        conn.execute(text("DELETE FROM patients"))
    reused = register(client, tenant.admin_key, mrn="A-1")
    assert reused.status_code == 409


def test_the_same_mrn_may_exist_in_two_tenants(client, tenant, other_tenant):
    assert register(client, tenant.admin_key, mrn="X-9").status_code == 201
    assert register(client, other_tenant.admin_key, mrn="X-9").status_code == 201


def test_concurrent_registrations_with_one_mrn_give_one_patient_and_no_500(
        app, tenant, owner_engine):
    start = threading.Barrier(8)

    def attempt(n):
        client = app.test_client()
        start.wait()
        return register(client, tenant.admin_key, given_name=f"Racer{chr(97 + n)}",
                        mrn="RACE-1")

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(r.status_code for r in pool.map(attempt, range(8)))
    assert statuses == [201] + [409] * 7
    assert count(owner_engine, "SELECT count(*) FROM patients") == 1


def test_idempotent_retry_answers_the_same_id_and_mrn(client, tenant, owner_engine):
    headers = {**bearer(tenant.admin_key), "Idempotency-Key": "reg-1"}
    first = client.post("/api/v1/patients", json=BODY, headers=headers)
    second = client.post("/api/v1/patients", json=BODY, headers=headers)
    assert first.json == second.json
    assert second.headers["Idempotent-Replayed"] == "true"
    assert count(owner_engine, "SELECT count(*) FROM patients") == 1


# Duplicate guard --------------------------------------------------------------------


@pytest.mark.parametrize(("given", "family"), [
    ("Ana", "Souza"), ("ANA", "souza"), ("Aná", "Soúza"), ("  ana ", " SOUZA  ")])
def test_same_name_and_birth_date_is_a_possible_duplicate(client, tenant, owner_engine,
                                                          given, family):
    existing = register(client, tenant.admin_key).json["id"]
    again = register(client, tenant.admin_key, given_name=given, family_name=family,
                     mrn=None, email=None)
    assert again.status_code == 409
    assert again.json["type"].endswith("possible-duplicate")
    assert again.json["existing_id"] == existing
    assert count(owner_engine, "SELECT count(*) FROM patients") == 1
    assert len(outbox(owner_engine, "patient.created")) == 1


def test_confirm_new_registers_a_namesake(client, tenant):
    first = register(client, tenant.admin_key).json["id"]
    second = register(client, tenant.admin_key, confirm_new=True)
    assert second.status_code == 201
    assert second.json["id"] != first


def test_a_different_birth_date_is_no_duplicate(client, tenant):
    register(client, tenant.admin_key)
    assert register(client, tenant.admin_key, birth_date="1984-03-03").status_code == 201


def test_another_tenants_patient_is_no_duplicate(client, tenant, other_tenant):
    register(client, other_tenant.admin_key)
    assert register(client, tenant.admin_key).status_code == 201


# Validation --------------------------------------------------------------------------


TOMORROW = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()


@pytest.mark.parametrize(("overrides", "field"), [
    ({"given_name": ""}, "given_name"),
    ({"given_name": "   "}, "given_name"),
    ({"given_name": "x" * 101}, "given_name"),
    ({"given_name": "1234"}, "given_name"),
    ({"family_name": None}, "family_name"),
    ({"family_name": "Sou\x00za"}, "family_name"),
    ({"birth_date": TOMORROW}, "birth_date"),
    ({"birth_date": "1899-12-31"}, "birth_date"),
    ({"birth_date": "02/03/1984"}, "birth_date"),
    ({"sex": "f"}, "sex"),
    ({"email": "not-an-email"}, "email"),
    ({"phone": "12"}, "phone"),
    ({"address": {"line": "1 A St", "city": "X", "country": "XX"}}, "address.country"),
    ({"address": {"line": "1 A St", "city": "X", "country": "USA"}}, "address.country"),
    ({"address": {"line": "1 A St", "country": "US"}}, "address.city"),
    ({"address": {"line": "y" * 201, "city": "X", "country": "US"}}, "address.line"),
    ({"address": {"line": "1 A St", "city": "X", "country": "US", "postal_code": "9" * 21}},
     "address.postal_code"),
    ({"address": {"line": "1 A St", "city": "X", "country": "US", "state": "IL"}},
     "address.state"),
    ({"mrn": "has space"}, "mrn"),
    ({"mrn": "-LEADING"}, "mrn"),
    ({"tenant_id": str(uuid.uuid4())}, "tenant_id"),
    ({"id": str(uuid.uuid4())}, "id"),
    ({"version": 7}, "version"),
])
def test_bad_fields_are_422_naming_the_field(client, tenant, owner_engine, overrides, field):
    response = register(client, tenant.admin_key, **overrides)
    assert response.status_code == 422
    assert response.headers["Content-Type"] == "application/problem+json"
    assert field in response.json["errors"], response.json
    assert count(owner_engine, "SELECT count(*) FROM patients") == 0


def test_every_bad_field_is_named_at_once(client, tenant):
    response = client.post("/api/v1/patients", headers=bearer(tenant.admin_key), json={
        "given_name": "", "birth_date": "1800-01-01", "sex": "x", "email": "@",
        "phone": "nope"})
    assert response.status_code == 422
    assert {"given_name", "family_name", "birth_date", "sex", "email", "phone"} <= set(
        response.json["errors"])


def test_birth_date_limits_are_inclusive(client, tenant):
    today = datetime.now(UTC).date().isoformat()
    assert register(client, tenant.admin_key, birth_date="1900-01-01").status_code == 201
    assert register(client, tenant.admin_key, birth_date=today).status_code == 201


# Update ------------------------------------------------------------------------------


def test_patch_changes_only_what_is_sent_and_bumps_the_version(client, tenant, owner_engine):
    created = register(client, tenant.admin_key).json
    before = client.get(f"/api/v1/patients/{created['id']}",
                        headers=bearer(tenant.admin_key)).json
    response = patch(client, tenant.admin_key, created["id"],
                     {"family_name": "Souza-Lima", "phone": "+44 20 7946 0958", "email": None})
    assert response.status_code == 200
    assert response.json == {"id": created["id"], "version": 2}
    assert response.headers["ETag"] == '"2"'

    after = client.get(f"/api/v1/patients/{created['id']}", headers=bearer(tenant.admin_key))
    assert after.headers["ETag"] == '"2"'
    assert (after.json["family_name"], after.json["phone"], after.json["email"]) == (
        "Souza-Lima", "+442079460958", None)
    assert after.json["given_name"] == "Ana"
    assert after.json["mrn"] == created["mrn"]
    assert after.json["updated_at"] > before["updated_at"]
    assert after.json["created_at"] == before["created_at"]


def test_patch_emits_patient_updated_with_the_changed_fields(client, tenant, owner_engine):
    patient_id = register(client, tenant.admin_key).json["id"]
    patch(client, tenant.admin_key, patient_id, {
        "given_name": "Ana", "address": {"line": "1 Main St", "city": "Lyon", "country": "FR"},
        "sex": "other"})
    (envelope,) = outbox(owner_engine, "patient.updated")
    assert envelope["aggregate_id"] == patient_id
    assert envelope["aggregate_type"] == "patient"
    assert envelope["data"] == {"changes": {
        "address": {"line": "1 Main St", "city": "Lyon", "postal_code": None,
                    "country": "FR"},
        "sex": "other"}}


def test_patch_with_the_current_values_changes_nothing(client, tenant, owner_engine):
    patient_id = register(client, tenant.admin_key).json["id"]
    response = patch(client, tenant.admin_key, patient_id,
                     {"given_name": "Ana", "phone": "+1 202 555 0143"})
    assert response.json["version"] == 1
    assert outbox(owner_engine, "patient.updated") == []


def test_patch_can_clear_the_address(client, tenant):
    patient_id = register(client, tenant.admin_key).json["id"]
    assert patch(client, tenant.admin_key, patient_id, {"address": None}).status_code == 200
    body = client.get(f"/api/v1/patients/{patient_id}", headers=bearer(tenant.admin_key)).json
    assert body["address"] is None


def test_stale_if_match_is_412_and_current_if_match_succeeds(client, tenant, owner_engine):
    patient_id = register(client, tenant.admin_key).json["id"]
    assert patch(client, tenant.admin_key, patient_id, {"sex": "other"},
                 **{"If-Match": '"1"'}).status_code == 200
    stale = patch(client, tenant.admin_key, patient_id, {"sex": "male"},
                  **{"If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.json["type"].endswith("precondition-failed")
    assert len(outbox(owner_engine, "patient.updated")) == 1
    body = client.get(f"/api/v1/patients/{patient_id}", headers=bearer(tenant.admin_key)).json
    assert (body["sex"], body["version"]) == ("other", 2)
    assert patch(client, tenant.admin_key, patient_id, {"sex": "male"},
                 **{"If-Match": 'W/"2"'}).json["version"] == 3


@pytest.mark.parametrize(("body", "field"), [
    ({"mrn": "NEW-1"}, "mrn"),
    ({"id": str(uuid.uuid4())}, "id"),
    ({"tenant_id": str(uuid.uuid4())}, "tenant_id"),
    ({"version": 9}, "version"),
    ({"given_name": None}, "given_name"),
    ({"birth_date": None}, "birth_date"),
    ({"sex": None}, "sex"),
    ({"birth_date": "1899-01-01"}, "birth_date"),
    ({"address": {"line": "x", "city": "y", "country": "ZZ"}}, "address.country"),
    ({}, "body"),
])
def test_bad_patches_are_422_and_change_nothing(client, tenant, owner_engine, body, field):
    patient_id = register(client, tenant.admin_key).json["id"]
    response = patch(client, tenant.admin_key, patient_id, body)
    assert response.status_code == 422
    assert field in response.json["errors"], response.json
    assert count(owner_engine, "SELECT max(version) FROM patients") == 1
    assert outbox(owner_engine, "patient.updated") == []


def test_patching_an_unknown_patient_is_404(client, tenant):
    response = patch(client, tenant.admin_key, uuid.uuid4(), {"sex": "male"})
    assert response.status_code == 404


# Roles -------------------------------------------------------------------------------


def test_staff_may_register_and_update(client, app, tenant):
    staff = key_with_role(app, tenant, Role.STAFF)
    created = register(client, staff)
    assert created.status_code == 201
    assert patch(client, staff, created.json["id"], {"sex": "other"}).status_code == 200


@pytest.mark.parametrize("role", [Role.READONLY, Role.PROVIDER])
def test_readers_may_not_write(client, app, tenant, owner_engine, role):
    key = key_with_role(app, tenant, role)
    patient_id = register(client, tenant.admin_key).json["id"]
    assert register(client, key, given_name="Nope").status_code == 403
    assert patch(client, key, patient_id, {"sex": "other"}).status_code == 403
    assert count(owner_engine, "SELECT count(*) FROM patients") == 1


def test_a_readonly_key_reads_and_searches_every_patient(client, app, tenant):
    key = key_with_role(app, tenant, Role.READONLY)
    patient_id = register(client, tenant.admin_key).json["id"]
    assert client.get(f"/api/v1/patients/{patient_id}", headers=bearer(key)).status_code == 200
    assert len(client.get("/api/v1/patients", headers=bearer(key)).json["items"]) == 1


def test_a_provider_key_reads_only_its_own_patients(client, app, tenant):
    with app.app_context():
        mine, other = (ProviderFactory(tenant_id=tenant.id) for _ in range(2))
        key = ApiKeyFactory(tenant_id=tenant.id, role=Role.PROVIDER, provider_id=mine.id).key
    seen, elsewhere, stranger = (
        uuid.UUID(register(client, tenant.admin_key, given_name=name).json["id"])
        for name in ("Seen", "Elsewhere", "Stranger"))
    start = next_monday().replace(hour=15, tzinfo=UTC)
    with app.app_context():
        visit = AppointmentFactory(tenant_id=tenant.id, provider_id=mine.id, patient_id=seen,
                                   start=start)
        AppointmentFactory(tenant_id=tenant.id, provider_id=other.id, patient_id=elsewhere,
                           start=start)
    # A cancelled appointment still makes the patient one of the provider's.
    assert client.post(f"/api/v1/appointments/{visit.id}/cancel", json={"reason": "ill"},
                       headers=bearer(tenant.admin_key)).status_code == 200
    read = client.get(f"/api/v1/patients/{seen}", headers=bearer(key))
    assert read.status_code == 200
    assert read.json["given_name"] == "Seen"
    for hidden in (elsewhere, stranger, uuid.uuid4()):
        response = client.get(f"/api/v1/patients/{hidden}", headers=bearer(key))
        assert response.status_code == 404, hidden
        assert response.json["type"].endswith("not-found")
    # Searching would show every patient of the clinic: not a provider's to do.
    assert client.get("/api/v1/patients", headers=bearer(key)).status_code == 403
    assert client.get("/api/v1/patients?q=Seen", headers=bearer(key)).status_code == 403


def test_platform_key_cannot_touch_patients(client, platform_key):
    assert register(client, platform_key).status_code == 403
    assert client.get("/api/v1/patients", headers=bearer(platform_key)).status_code == 403


def test_no_key_is_401(client):
    assert client.get("/api/v1/patients").status_code == 401


# Tenant isolation --------------------------------------------------------------------


def test_another_tenants_patient_is_404_everywhere(client, tenant, other_tenant,
                                                   owner_engine):
    theirs = register(client, other_tenant.admin_key).json
    mine = bearer(tenant.admin_key)
    assert client.get(f"/api/v1/patients/{theirs['id']}", headers=mine).status_code == 404
    assert patch(client, tenant.admin_key, theirs["id"], {"sex": "male"}).status_code == 404
    listed = client.get(f"/api/v1/patients?mrn={theirs['mrn']}", headers=mine).json
    assert listed["items"] == []
    assert client.get("/api/v1/patients", headers=mine).json["items"] == []
    assert count(owner_engine, "SELECT max(version) FROM patients") == 1


def test_get_patients_batches_in_order_and_skips_foreign_and_unknown_ids(
        app, tenant, other_tenant):
    with app.app_context():
        ann = PatientFactory(tenant_id=tenant.id, given_name="Ann")
        bob = PatientFactory(tenant_id=tenant.id, given_name="Bob")
        foreign = PatientFactory(tenant_id=other_tenant.id)
        views = app.extensions["vitalbridge"].queries.ask(
            GetPatients(ids=(bob.id, foreign.id, uuid.uuid4(), ann.id)),
            Principal(role=Role.STAFF, tenant_id=tenant.id))
    assert [v.id for v in views] == [bob.id, ann.id]
    assert views[1].display_name == f"Ann {ann.family_name}"


# Lists and exact filters -------------------------------------------------------------


def test_plain_lists_go_by_family_then_given_name_across_pages(client, app, tenant):
    names = [("Émile", "Zola"), ("ana", "de la Cruz"), ("Bo", "Álvarez"), ("Al", "Álvarez"),
             ("Zoe", "Brown"), ("Cy", "brown")]
    with app.app_context():
        for given, family in names:
            PatientFactory(tenant_id=tenant.id, given_name=given, family_name=family)
    seen, cursor = [], None
    while True:
        url = "/api/v1/patients?limit=4" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=bearer(tenant.admin_key)).json
        seen += [(p["given_name"], p["family_name"]) for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [("Al", "Álvarez"), ("Bo", "Álvarez"), ("Cy", "brown"), ("Zoe", "Brown"),
                    ("ana", "de la Cruz"), ("Émile", "Zola")]


def test_exact_filters_birth_date_phone_and_mrn(client, app, tenant):
    ana = register(client, tenant.admin_key).json
    register(client, tenant.admin_key, given_name="Bea", birth_date="1990-01-01",
             phone="+1 202 555 0199", mrn="B-2")
    headers = bearer(tenant.admin_key)

    def ids(query):
        response = client.get(f"/api/v1/patients?{query}", headers=headers)
        assert response.status_code == 200, response.json
        return [p["id"] for p in response.json["items"]]

    assert ids("birth_date=1984-03-02") == [ana["id"]]
    assert ids("phone=202.555.0143") == [ana["id"]]
    assert ids("phone=%2B12025550143") == [ana["id"]]
    assert ids(f"mrn={ana['mrn'].lower()}") == [ana["id"]]
    assert ids("mrn=b-2&birth_date=1984-03-02") == []
    assert len(ids("")) == 2


@pytest.mark.parametrize(("query", "field"), [
    ("birth_date=yesterday", "birth_date"), ("phone=12", "phone"), ("limit=0", "limit"),
    ("limit=201", "limit"), ("cursor=not-a-cursor", "cursor"), ("q=--", "q"),
    ("q=" + "a" * 101, "q"), ("unknown=1", "unknown")])
def test_bad_list_arguments_are_422(client, tenant, query, field):
    response = client.get(f"/api/v1/patients?{query}", headers=bearer(tenant.admin_key))
    assert response.status_code == 422
    assert field in response.json["errors"], response.json


def test_a_list_cursor_is_refused_by_a_search(client, app, tenant):
    with app.app_context():
        for _ in range(3):
            PatientFactory(tenant_id=tenant.id)
    headers = bearer(tenant.admin_key)
    cursor = client.get("/api/v1/patients?limit=1", headers=headers).json["next_cursor"]
    response = client.get(f"/api/v1/patients?q=ana&cursor={cursor}", headers=headers)
    assert response.status_code == 422
    assert "cursor" in response.json["errors"]


def test_list_cursors_carry_no_readable_name_even_for_the_longest_names(client, app, tenant):
    # A cursor sits in URLs (logs, proxies, histories); a plain list's sort key is a name.
    longest = "\U00020000" * 100  # 4 bytes in UTF-8: the widest a sort key gets
    with app.app_context():
        for given, family in [("Ann", "Lee"), (longest, longest), ("Bo", "Lee")]:
            PatientFactory(tenant_id=tenant.id, given_name=given, family_name=family)
    seen, cursor = [], None
    while True:
        url = "/api/v1/patients?limit=1" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(url, headers=bearer(tenant.admin_key))
        assert response.status_code == 200, response.json
        seen += [p["given_name"] for p in response.json["items"]]
        cursor = response.json["next_cursor"]
        if cursor is None:
            break
        readable = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        assert b"lee" not in readable
        assert "\U00020000".encode() not in readable
    assert seen == ["Ann", "Bo", longest]
