"""Bad input is a 4xx naming what is wrong, never a 500 (shared/API.md, "General rules").

Text that PostgreSQL or UTF-8 cannot hold (NUL, lone surrogates) and control characters,
timestamps and dates near datetime's limits or in formats RFC 3339 does not know, zone
names that are not zones, misspelt or empty query arguments, malformed JSON and inverted
windows: each through HTTP, on the endpoints where a review saw it go wrong.
"""

import uuid
from datetime import UTC, timedelta

import pytest
from flask import Flask
from marshmallow import ValidationError, fields
from sqlalchemy import create_engine, text

from tests.appointment_factories import AppointmentFactory, next_monday
from tests.conftest import bearer, forged_cursor
from tests.patient_factories import PatientFactory
from tests.provider_factories import ProviderFactory
from tests.schedule_factories import LeaveRequestFactory, WorkingHoursFactory
from vitalbridge import create_app
from vitalbridge.http.validators import InputSchema, QueryArgs

NUL, SURROGATE = "\u0000", "\ud800"
MONDAY_NOON_UTC = next_monday(2).replace(hour=16, tzinfo=UTC)  # noon in New York
WINDOW = {"from": "2027-03-01T00:00:00Z", "to": "2027-03-08T00:00:00Z"}


@pytest.fixture
def world(app, tenant):
    """A provider with working hours, a patient, a booking and a leave request."""
    with app.app_context():
        provider = ProviderFactory(tenant_id=tenant.id, specialty="Cardiology")
        WorkingHoursFactory(tenant_id=tenant.id, provider_id=provider.id)
        patient = PatientFactory(tenant_id=tenant.id)
        booking = AppointmentFactory(tenant_id=tenant.id, provider_id=provider.id,
                                     patient_id=patient.id, start=MONDAY_NOON_UTC)
        leave = LeaveRequestFactory(tenant_id=tenant.id, provider_id=provider.id)
    return {"provider": provider.id, "patient": patient.id, "appointment": booking.id,
            "leave": leave.id}


def problem(response, status=422):
    """The problem body of ``response``, checked to be a ``status`` problem+json."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.content_type == "application/problem+json"
    return response.json


def booking(world, **overrides):
    return {"provider_id": str(world["provider"]), "patient_id": str(world["patient"]),
            "start": (MONDAY_NOON_UTC + timedelta(hours=1)).isoformat(), **overrides}


def leave_body(**overrides):
    return {"start": "2027-06-01T09:00:00-04:00", "end": "2027-06-02T17:00:00-04:00",
            "reason": "conference", **overrides}


# --- 1. NUL, lone surrogates and control characters ---------------------------------------

# (method, path, body, field): bodies that reached the database with a bad string.
BODY_CASES = [
    ("post", "/providers", {"given_name": "A{bad}", "family_name": "B", "specialty": "C"},
     "given_name"),
    ("patch", "/providers/{provider}", {"family_name": "B{bad}"}, "family_name"),
    ("post", "/api-keys", {"name": "ci{bad}", "role": "staff"}, "name"),
    ("post", "/providers/{provider}/leave-requests", leave_body(reason="r{bad}"), "reason"),
    ("post", "/appointments", "booking", "reason"),
    ("post", "/appointments/{appointment}/cancel", {"reason": "r{bad}"}, "reason"),
    ("put", "/providers/{provider}/working-hours",
     {"timezone": "UTC{bad}", "rules": []}, "timezone"),
    ("post", "/patients", {"given_name": "A{bad}", "family_name": "B",
                           "birth_date": "1980-01-01"}, "given_name"),
]


def _fill(value, bad):
    if isinstance(value, dict):
        return {key: _fill(item, bad) for key, item in value.items()}
    return value.replace("{bad}", bad) if isinstance(value, str) else value


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "surrogate"])
@pytest.mark.parametrize(("method", "path", "body", "field"), BODY_CASES,
                         ids=[f"{c[0]} {c[1]} {c[3]}" for c in BODY_CASES])
def test_nul_or_lone_surrogate_in_a_body_is_422_naming_the_field(
        client, tenant, world, bad, method, path, body, field):
    if body == "booking":
        body = booking(world, reason="r{bad}")
    url = "/api/v1" + path.format(**world)
    response = getattr(client, method)(url, json=_fill(body, bad),
                                       headers=bearer(tenant.admin_key))
    assert field in problem(response)["errors"]


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "surrogate"])
def test_nul_or_lone_surrogate_in_a_tenant_name_is_422(client, platform_key, bad):
    response = client.post("/api/v1/tenants", headers=bearer(platform_key), json={
        "name": f"Clinic{bad}", "slug": "clinic-bad-text", "timezone": "UTC"})
    assert problem(response)["errors"] == {"name": ["Must not contain control characters."]
                                           if bad == NUL else
                                           ["Must be valid Unicode: no unpaired surrogates."]}


# A lone surrogate cannot travel in a URL (its UTF-8 bytes are invalid and decode to
# U+FFFD), but NUL can, percent-encoded.
@pytest.mark.parametrize(("path", "query", "field"), [
    ("/providers", "q=a%00b", "q"),
    ("/providers", "specialty=a%00b", "specialty"),
    ("/patients", "mrn=a%00b", "mrn"),
    ("/patients", "q=a%00b", "q"),
    ("/availability", "specialty=a%00b&from=2027-03-01T00:00:00Z&to=2027-03-02T00:00:00Z",
     "specialty"),
    ("/events", "type=a%00b", "type"),
])
def test_nul_in_a_query_string_is_422_naming_the_argument(client, tenant, path, query, field):
    response = client.get(f"/api/v1{path}?{query}", headers=bearer(tenant.admin_key))
    assert problem(response)["errors"] == {field: ["Must not contain control characters."]}


@pytest.mark.parametrize("name", ["Ann\nMarie", "Ann\tMarie", "Ann\x07", "Ann\x1b[31m",
                                  "Ann\x85Marie", "Ann\u2028Marie"])
def test_single_line_text_refuses_control_characters(client, tenant, name):
    response = client.post("/api/v1/providers", headers=bearer(tenant.admin_key), json={
        "given_name": name, "family_name": "Lee", "specialty": "Cardiology"})
    assert problem(response)["errors"] == {"given_name": ["Must not contain control characters."]}


def test_a_reason_may_span_lines_but_holds_no_other_control_character(client, tenant, world):
    url = f"/api/v1/providers/{world['provider']}/leave-requests"
    headers = bearer(tenant.admin_key)
    kept = client.post(url, headers=headers, json=leave_body(reason="Congress\r\n\tday 2"))
    assert kept.status_code == 201, kept.json
    refused = client.post(url, headers=headers, json=leave_body(reason="Congress\x1b[0m"))
    assert problem(refused)["errors"] == {"reason": ["Must not contain control characters."]}


def test_a_patient_name_still_collapses_pasted_whitespace(client, tenant):
    response = client.post("/api/v1/patients", headers=bearer(tenant.admin_key), json={
        "given_name": "Mary\tAnn\n", "family_name": "Lee", "birth_date": "1980-01-01"})
    assert response.status_code == 201, response.json
    read = client.get(f"/api/v1/patients/{response.json['id']}",
                      headers=bearer(tenant.admin_key))
    assert read.json["given_name"] == "Mary Ann"


def test_a_forged_cursor_carrying_nul_is_422(app, client, tenant):
    cursor = forged_cursor(app, ["Lee\x00", "Ann", str(uuid.uuid4())])
    response = client.get(f"/api/v1/providers?cursor={cursor}", headers=bearer(tenant.admin_key))
    assert problem(response)["errors"] == {"cursor": ["Invalid cursor."]}


# Every paginated list, and sort keys a client could forge: values of the wrong JSON
# type (uuid.UUID(1) raises AttributeError), wrong lengths, naive timestamps, non-lists.
PAGED_LISTS = ["/providers", "/patients", "/patients?q=lee", "/appointments",
               "/leave-requests", "/api-keys", "/audit",
               "/reports/utilization?from=2027-03-01&to=2027-03-07"]
FORGED_SORT_KEYS = [
    [1, 1], ["a", "b", 1], [1, "b", str(uuid.uuid4())], ["2025-01-01T00:00:00+00:00", 1],
    [0.5, 7], [True, str(uuid.uuid4())],
    [None, None, None], [], ["x"] * 4, [[1], {"a": 1}], {"a": 1}, "text", 12,
]


@pytest.mark.parametrize("sort_key", FORGED_SORT_KEYS, ids=repr)
@pytest.mark.parametrize("path", PAGED_LISTS)
def test_a_forged_cursor_of_any_shape_is_422_on_every_list(app, client, tenant, path,
                                                           sort_key):
    cursor = forged_cursor(app, sort_key)
    joiner = "&" if "?" in path else "?"
    response = client.get(f"/api/v1{path}{joiner}cursor={cursor}",
                          headers=bearer(tenant.admin_key))
    assert problem(response)["errors"] == {"cursor": ["Invalid cursor."]}


@pytest.mark.parametrize("path", ["/appointments", "/leave-requests", "/api-keys", "/audit"])
def test_a_cursor_timestamp_without_offset_is_422(app, client, tenant, path):
    cursor = forged_cursor(app, ["2025-01-01T00:00:00", str(uuid.uuid4())])
    response = client.get(f"/api/v1{path}?cursor={cursor}", headers=bearer(tenant.admin_key))
    assert problem(response)["errors"] == {"cursor": ["Invalid cursor."]}


@pytest.mark.parametrize("raw", ["[NaN, \"%s\"]", "[Infinity, \"%s\"]", "[-Infinity, \"%s\"]"])
def test_a_search_cursor_score_must_be_a_finite_number(app, client, tenant, raw):
    cursor = forged_cursor(app, (raw % uuid.uuid4()).encode())
    response = client.get(f"/api/v1/patients?q=lee&cursor={cursor}",
                          headers=bearer(tenant.admin_key))
    assert problem(response)["errors"] == {"cursor": ["Invalid cursor."]}


def test_a_forged_cursor_of_the_tenants_list_is_422(app, client, platform_key):
    cursor = forged_cursor(app, [1, "b"])
    response = client.get(f"/api/v1/tenants?cursor={cursor}", headers=bearer(platform_key))
    assert problem(response)["errors"] == {"cursor": ["Invalid cursor."]}


def test_a_plain_string_field_gets_the_text_rule_by_default():
    class FutureBody(InputSchema):
        note = fields.String()
        tags = fields.List(fields.String())

    with pytest.raises(ValidationError) as refused:
        FutureBody().load({"note": f"a{NUL}", "tags": ["ok", f"b{SURROGATE}"]})
    assert refused.value.messages == {
        "note": ["Must not contain control characters."],
        "tags": {1: ["Must be valid Unicode: no unpaired surrogates."]}}


def test_every_endpoint_loads_its_input_through_the_shared_base_schemas(app):
    checked = 0
    for endpoint, view in app.view_functions.items():
        for parameter in getattr(view, "_apidoc", {}).get("arguments", {}).get("parameters", []):
            schema = parameter["schema"]
            schema_class = schema if isinstance(schema, type) else type(schema)
            base = QueryArgs if parameter["in"] == "query" else InputSchema
            assert issubclass(schema_class, base), f"{endpoint}: {schema_class.__name__}"
            checked += 1
    assert checked >= 20


@pytest.fixture
def bare_app(owner_url):
    """A fresh app, to add routes that fail in the database the way unchecked input would."""
    application = create_app(database_url=owner_url, env="testing")
    yield application
    application.extensions["vitalbridge"].db.dispose()


def test_unstorable_text_that_slips_past_the_schemas_is_422_not_500(bare_app: Flask,
                                                                    owner_url):
    engine = create_engine(owner_url)

    @bare_app.get("/nul-for-test")
    def nul():
        with engine.connect() as conn:
            conn.execute(text("SELECT CAST(:value AS text)"), {"value": f"a{NUL}"})

    @bare_app.get("/surrogate-for-test")
    def surrogate():
        return f"a{SURROGATE}".encode()

    try:
        for path in ("/nul-for-test", "/surrogate-for-test"):
            body = problem(bare_app.test_client().get(path))
            assert "errors" not in body
            assert "NUL" in body["detail"]
    finally:
        engine.dispose()


def test_other_failures_stay_500(bare_app: Flask):
    @bare_app.get("/value-error-for-test")
    def value_error():
        raise ValueError("not about the input")

    problem(bare_app.test_client().get("/value-error-for-test"), 500)


# --- 2. Timestamps and dates near the ends of the calendar --------------------------------

YEAR_1_EAST = "0001-01-01T00:00:00+14:00"
YEAR_1 = "0001-01-01T00:00:00Z"
YEAR_9999 = "9999-12-31T23:50:00Z"
YEAR_9999_WEST = "9999-12-31T20:00:00-05:00"
TOO_EARLY = TOO_LATE = ["Must be in the years 1900 to 2200."]


@pytest.mark.parametrize(("start", "message"), [(YEAR_9999, TOO_LATE), (YEAR_1_EAST, TOO_EARLY)])
def test_booking_at_the_ends_of_the_calendar_is_422(client, tenant, world, start, message):
    response = client.post("/api/v1/appointments", headers=bearer(tenant.admin_key),
                           json=booking(world, start=start))
    assert problem(response)["errors"] == {"start": message}


def test_rescheduling_into_year_9999_is_422(client, tenant, world):
    response = client.post(f"/api/v1/appointments/{world['appointment']}/reschedule",
                           headers=bearer(tenant.admin_key), json={"start": YEAR_9999})
    assert problem(response)["errors"] == {"start": TOO_LATE}


@pytest.mark.parametrize(("overrides", "errors"), [
    ({"start": "0001-01-01T00:00:00+01:00"}, {"start": TOO_EARLY}),
    ({"end": YEAR_9999_WEST}, {"end": TOO_LATE}),
])
def test_leave_at_the_ends_of_the_calendar_is_422(client, tenant, world, overrides, errors):
    response = client.post(f"/api/v1/providers/{world['provider']}/leave-requests",
                           headers=bearer(tenant.admin_key), json=leave_body(**overrides))
    assert problem(response)["errors"] == errors


@pytest.mark.parametrize(("start", "end", "field", "message"), [
    (YEAR_1, "0001-01-05T00:00:00Z", "from", TOO_EARLY),
    ("9999-12-01T00:00:00Z", "9999-12-05T00:00:00Z", "from", TOO_LATE),
])
def test_schedule_and_availability_windows_at_the_ends_are_422(client, tenant, world, start,
                                                                 end, field, message):
    headers = bearer(tenant.admin_key)
    window = {"from": start, "to": end}
    schedule = client.get(f"/api/v1/providers/{world['provider']}/schedule",
                          query_string=window, headers=headers)
    assert problem(schedule)["errors"][field] == message
    slots = client.get("/api/v1/availability", headers=headers,
                       query_string={**window, "provider_id": str(world["provider"])})
    assert problem(slots)["errors"][field] == message


@pytest.mark.parametrize(("stamp", "status"), [
    (YEAR_1_EAST, 422),
    ("1899-12-31T23:59:59Z", 422),
    ("1900-01-01T00:00:00Z", 200),
    ("1900-01-01T01:00:00+01:00", 200),
    ("1900-01-01T00:30:00+01:00", 200),  # the year as written counts (the document's pattern)
    ("2200-12-31T23:59:59.999999Z", 200),
    ("2200-12-31T20:00:00-05:00", 200),
    ("2201-01-01T00:00:00Z", 422),
])
def test_appointment_list_window_bounds(client, tenant, stamp, status):
    response = client.get("/api/v1/appointments", query_string={"from": stamp},
                          headers=bearer(tenant.admin_key))
    assert response.status_code == status, response.json
    if status == 422:
        assert set(response.json["errors"]) == {"from"}


@pytest.mark.parametrize(("day", "message"), [
    ("0001-01-01", "Must be on or after 1900-01-01."),
    ("9999-12-31", "Must be on or before 2200-12-31."),
])
def test_override_dates_at_the_ends_of_the_calendar_are_422(client, tenant, world, day, message):
    url = f"/api/v1/providers/{world['provider']}/overrides/{day}"
    headers = bearer(tenant.admin_key)
    put = client.put(url, headers=headers, json={"closed": True})
    assert problem(put)["errors"] == {"date": [message]}
    assert problem(client.delete(url, headers=headers))["errors"] == {"date": [message]}


def test_override_dates_inside_the_range_work(client, tenant, world):
    response = client.put(f"/api/v1/providers/{world['provider']}/overrides/2200-12-31",
                          headers=bearer(tenant.admin_key), json={"closed": True})
    assert response.status_code == 200, response.json


@pytest.mark.parametrize(("day", "status"), [("0001-01-01", 422), ("9999-12-31", 422),
                                             ("1900-01-01", 200), ("2200-12-31", 200)])
def test_working_hours_effective_from_is_bounded(client, tenant, world, day, status):
    response = client.put(f"/api/v1/providers/{world['provider']}/working-hours",
                          headers=bearer(tenant.admin_key),
                          json={"effective_from": day, "rules": []})
    assert response.status_code == status, response.json
    if status == 422:
        assert set(response.json["errors"]) == {"effective_from"}


# --- 3. RFC 3339 timestamps and YYYY-MM-DD dates only -------------------------------------

LOOSE_TIMESTAMPS = ["2030-03-01 09:00:00Z", "20270314T093000Z", "2027-03-14T09Z",
                    "2027-03-14T09:30Z", "2027-03-14T09:30:00+0100", "2027-03-14T09:30:00+01",
                    "2027-03-14T09:30:00Z\n", "2027-073T09:30:00Z",
                    "\u0662\u0660\u0662\u0667-03-14T09:30:00Z"]  # Arabic-Indic digits


@pytest.mark.parametrize("stamp", LOOSE_TIMESTAMPS)
def test_timestamps_that_are_not_rfc_3339_are_422(client, tenant, world, stamp):
    headers = bearer(tenant.admin_key)
    listed = client.get("/api/v1/appointments", query_string={"from": stamp}, headers=headers)
    assert problem(listed)["errors"] == {"from": ["Not a valid datetime."]}
    booked = client.post("/api/v1/appointments", headers=headers,
                         json=booking(world, start=stamp))
    assert problem(booked)["errors"] == {"start": ["Not a valid datetime."]}


def test_a_naive_timestamp_is_still_422(client, tenant):
    response = client.get("/api/v1/appointments", query_string={"from": "2027-03-14T09:30:00"},
                          headers=bearer(tenant.admin_key))
    assert problem(response)["errors"] == {"from": ["Not a valid aware datetime."]}


@pytest.mark.parametrize("stamp", ["2027-03-14t09:30:00z", "2027-03-14T09:30:00.123456789+05:30",
                                   "2027-03-14T09:30:00-00:00"])
def test_every_rfc_3339_spelling_is_accepted(client, tenant, stamp):
    response = client.get("/api/v1/appointments", query_string={"from": stamp},
                          headers=bearer(tenant.admin_key))
    assert response.status_code == 200, response.json


LOOSE_DATES = ["19800101", "1980-W01-1", "1980-1-01", "1980-001", "1980-01-01T00:00:00Z",
               "\uff11\uff19\uff18\uff10-01-01"]  # full-width digits


@pytest.mark.parametrize("day", LOOSE_DATES)
def test_dates_that_are_not_yyyy_mm_dd_are_422(client, tenant, world, day):
    headers = bearer(tenant.admin_key)
    searched = client.get("/api/v1/patients", query_string={"birth_date": day}, headers=headers)
    assert problem(searched)["errors"] == {"birth_date": ["Not a valid date."]}
    registered = client.post("/api/v1/patients", headers=headers, json={
        "given_name": "Ann", "family_name": "Lee", "birth_date": day})
    assert problem(registered)["errors"] == {"birth_date": ["Not a valid date."]}
    hours = client.put(f"/api/v1/providers/{world['provider']}/working-hours", headers=headers,
                       json={"effective_from": day, "rules": []})
    assert problem(hours)["errors"] == {"effective_from": ["Not a valid date."]}


@pytest.mark.parametrize("day", ["20270315", "2027-W11-1", "2027-02-30"])
def test_override_path_dates_that_are_not_yyyy_mm_dd_are_422(client, tenant, world, day):
    response = client.put(f"/api/v1/providers/{world['provider']}/overrides/{day}",
                          headers=bearer(tenant.admin_key), json={"closed": True})
    assert problem(response)["errors"] == {"date": ["Not a date; write YYYY-MM-DD."]}


# --- 4. Only real IANA zones --------------------------------------------------------------

@pytest.mark.parametrize("zone", ["localtime", "Factory", "posixrules", "posix/Europe/Paris"])
def test_names_that_are_not_iana_zones_are_422(client, platform_key, tenant, zone):
    created = client.post("/api/v1/tenants", headers=bearer(platform_key), json={
        "name": "Clinic", "slug": "clinic-zone", "timezone": zone})
    assert set(problem(created)["errors"]) == {"timezone"}
    provider = client.post("/api/v1/providers", headers=bearer(tenant.admin_key), json={
        "given_name": "Ann", "family_name": "Lee", "specialty": "Cardiology", "timezone": zone})
    assert set(problem(provider)["errors"]) == {"timezone"}


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_real_zones_are_accepted(client, platform_key, zone):
    response = client.post("/api/v1/tenants", headers=bearer(platform_key), json={
        "name": "Clinic", "slug": f"clinic-{uuid.uuid4().hex[:8]}", "timezone": zone})
    assert response.status_code == 201, response.json


# --- 5. Unknown query arguments -----------------------------------------------------------

LISTS = ["/appointments", "/providers", "/leave-requests", "/patients", "/api-keys", "/events",
         "/patients/{patient}/appointments", "/providers/{provider}/schedule?{window}",
         "/availability?provider_id={provider}&{window}"]


@pytest.mark.parametrize("path", LISTS)
def test_a_misspelt_query_argument_is_422_not_ignored(client, tenant, world, path):
    window = "from=2027-03-01T00:00:00Z&to=2027-03-02T00:00:00Z"
    url = "/api/v1" + path.format(window=window, **world)
    response = client.get(url + ("&" if "?" in url else "?") + "stauts=booked",
                          headers=bearer(tenant.admin_key))
    assert problem(response)["errors"] == {"stauts": ["Unknown field."]}


def test_a_misspelt_argument_of_the_tenant_list_is_422(client, platform_key):
    response = client.get("/api/v1/tenants?limt=5", headers=bearer(platform_key))
    assert problem(response)["errors"] == {"limt": ["Unknown field."]}


def test_limit_and_cursor_stay_known(client, app, tenant, world):
    with app.app_context():
        ProviderFactory(tenant_id=tenant.id)
    headers = bearer(tenant.admin_key)
    first = client.get("/api/v1/providers?limit=1", headers=headers)
    assert first.status_code == 200
    assert first.json["next_cursor"]
    second = client.get(f"/api/v1/providers?limit=1&cursor={first.json['next_cursor']}",
                        headers=headers)
    assert second.status_code == 200
    assert len(second.json["items"]) == 1
    assert second.json["items"] != first.json["items"]


def test_availability_still_takes_provider_id_repeated(client, app, tenant, world):
    with app.app_context():
        other = ProviderFactory(tenant_id=tenant.id)
    response = client.get(
        f"/api/v1/availability?provider_id={world['provider']}&provider_id={other.id}"
        "&from=2027-03-01T00:00:00Z&to=2027-03-02T00:00:00Z", headers=bearer(tenant.admin_key))
    assert response.status_code == 200, response.json
    assert [p["provider_id"] for p in response.json["providers"]] == [
        str(world["provider"]), str(other.id)]


# --- 6. An empty query value means "not given" --------------------------------------------

@pytest.mark.parametrize("path", [
    "/providers?specialty=&q=&active=",
    "/patients?q=&cursor=&mrn=&birth_date=&phone=",
    "/appointments?provider_id=&patient_id=&status=&from=&to=&cursor=&limit=",
    "/leave-requests?provider_id=&status=",
    "/events?type=",
    "/patients/{patient}/appointments?status=&when=",
])
def test_empty_filters_are_absent_filters(client, tenant, world, path):
    url = "/api/v1" + path.format(**world)
    headers = bearer(tenant.admin_key)
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.json
    assert response.json["items"] == client.get(url.split("?")[0], headers=headers).json["items"]


def test_empty_provider_filters_list_every_provider(client, tenant, world):
    headers = bearer(tenant.admin_key)
    unfiltered = client.get("/api/v1/providers", headers=headers).json
    assert client.get("/api/v1/providers?specialty=&q=&active=", headers=headers).json == unfiltered


def test_an_empty_specialty_beside_a_provider_id_is_ignored(client, tenant, world):
    response = client.get(f"/api/v1/availability?specialty=&provider_id={world['provider']}"
                          "&from=2027-03-01T00:00:00Z&to=2027-03-02T00:00:00Z",
                          headers=bearer(tenant.admin_key))
    assert response.status_code == 200, response.json


def test_an_empty_required_window_is_missing(client, tenant, world):
    response = client.get(f"/api/v1/providers/{world['provider']}/schedule?from=&to=",
                          headers=bearer(tenant.admin_key))
    assert set(problem(response)["errors"]) == {"from", "to"}


def test_an_empty_unknown_argument_is_still_refused(client, tenant):
    response = client.get("/api/v1/appointments?stauts=", headers=bearer(tenant.admin_key))
    assert problem(response)["errors"] == {"stauts": ["Unknown field."]}


# --- 7. Malformed JSON --------------------------------------------------------------------

@pytest.mark.parametrize("raw", [b"{not json", b'{"name": "\xff"}', b""])
def test_malformed_json_says_so(client, tenant, raw):
    response = client.post("/api/v1/api-keys", data=raw, headers={
        **bearer(tenant.admin_key), "Content-Type": "application/json"})
    if not raw:  # an empty body is a body without fields, not bad JSON
        assert set(problem(response)["errors"]) == {"name", "role"}
        return
    body = problem(response, 400)
    assert body["detail"] == "The request body is not valid JSON."
    assert body["errors"] == {"json": ["Invalid JSON body."]}


# --- 8. Windows and limits as strict as their siblings' -----------------------------------

@pytest.mark.parametrize("end", ["2027-03-01T00:00:00Z", "2027-02-28T23:00:00Z",
                                 "2027-02-28T19:00:00-05:00"])
def test_an_appointment_list_window_ending_before_it_starts_is_422(client, tenant, end):
    response = client.get("/api/v1/appointments",
                          query_string={"from": "2027-03-01T00:00:00Z", "to": end},
                          headers=bearer(tenant.admin_key))
    assert problem(response)["errors"] == {"to": ["Must be after from."]}


def test_an_availability_specialty_is_capped_like_the_provider_filter(client, tenant):
    headers = bearer(tenant.admin_key)
    long = client.get("/api/v1/availability", headers=headers,
                      query_string={**WINDOW, "specialty": "x" * 101})
    assert set(problem(long)["errors"]) == {"specialty"}
    huge = client.get("/api/v1/availability", headers=headers,
                      query_string={**WINDOW, "specialty": "x" * 100_000})
    assert set(problem(huge)["errors"]) == {"specialty"}
    fits = client.get("/api/v1/availability", headers=headers,
                      query_string={**WINDOW, "specialty": "x" * 100})
    assert fits.status_code == 200, fits.json


def test_an_availability_specialty_is_trimmed_like_the_provider_filter(client, tenant, world):
    response = client.get("/api/v1/availability", headers=bearer(tenant.admin_key),
                          query_string={**WINDOW, "specialty": "  cardiology "})
    assert response.status_code == 200, response.json
    assert [p["provider_id"] for p in response.json["providers"]] == [str(world["provider"])]


def test_an_event_position_beyond_bigint_is_422(client, tenant):
    response = client.get(f"/api/v1/events?after={2**63}", headers=bearer(tenant.admin_key))
    assert set(problem(response)["errors"]) == {"after"}


@pytest.mark.parametrize("header", ['"³"', "٣", '"abc"', '"-1"', '"1.5"', '"' + "9" * 40 + '"',
                                    '"3', '""3""', 'W/3', '"3" "4"'])
def test_an_if_match_that_names_no_version_is_422(client, tenant, header):
    with client.application.app_context():
        provider = ProviderFactory(tenant_id=tenant.id)
    response = client.patch(f"/api/v1/providers/{provider.id}", json={"specialty": "x"},
                            headers=bearer(tenant.admin_key) | {"If-Match": header})
    assert problem(response)["errors"] == {
        "If-Match": ['Must be a version number, e.g. "3".']}


DEEP_ARRAY = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a":' * 50_000 + "1" + "}" * 50_000
LONG_INTEGER = '{"given_name": ' + "9" * 5_000 + "}"


@pytest.mark.parametrize("body", [DEEP_ARRAY, DEEP_OBJECT, LONG_INTEGER],
                         ids=["deep-array", "deep-object", "long-integer"])
def test_json_that_python_cannot_load_is_400(client, tenant, body):
    headers = bearer(tenant.admin_key) | {"Content-Type": "application/json",
                                          "Idempotency-Key": "deep-1"}
    response = client.post("/api/v1/providers", data=body, headers=headers)
    answer = problem(response, status=400)
    assert answer["type"].endswith("malformed-request")
    assert answer["errors"] == {"json": ["Nested too deeply, or a number too long to read."]}


@pytest.mark.parametrize("body", [DEEP_ARRAY, DEEP_OBJECT, LONG_INTEGER],
                         ids=["deep-array", "deep-object", "long-integer"])
def test_a_command_without_a_body_ignores_one_it_cannot_load(client, tenant, body):
    # Check-in reads no body, so none is parsed; the idempotency fingerprint hashes it raw.
    headers = bearer(tenant.admin_key) | {"Content-Type": "application/json",
                                          "Idempotency-Key": "deep-1"}
    response = client.post(f"/api/v1/appointments/{uuid.uuid4()}/check-in", data=body,
                           headers=headers)
    assert problem(response, status=404)["type"].endswith("not-found")


@pytest.mark.parametrize("body", [DEEP_ARRAY, LONG_INTEGER, "{not json"],
                         ids=["deep-array", "long-integer", "malformed"])
@pytest.mark.parametrize("authorization", [None, "Bearer vb_live_unknown_key",
                                           "Bearer not-a-key"],
                         ids=["no-key", "unknown-key", "malformed-key"])
def test_a_body_is_read_only_after_the_key_is_accepted(client, body, authorization):
    # A caller without a valid key learns nothing of the body and costs no JSON parse:
    # the answer is the key's 401, not the body's 400.
    headers = {"Content-Type": "application/json"}
    if authorization:
        headers["Authorization"] = authorization
    response = client.post("/api/v1/providers", data=body, headers=headers)
    assert problem(response, status=401)["type"].endswith("unauthenticated")
