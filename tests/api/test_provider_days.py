"""The utilization report from the daily provider figures read model: the same answers
as the live computation (zones, DST, overrides, leave, moves, deactivation, hours
changed in a new zone), its meta, the window it holds and the hourly roll."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from tests.appointment_factories import next_monday
from tests.conftest import bearer, data_reads
from tests.patient_factories import PatientFactory
from tests.provider_factories import ProviderFactory
from tests.read_model_helpers import assert_read_models_match, catch_up, rebuild
from tests.schedule_factories import WorkingHoursFactory
from vitalbridge.reporting.window import roll_windows

URL = "/api/v1/reports/utilization"
NY, TOKYO = ZoneInfo("America/New_York"), ZoneInfo("Asia/Tokyo")
MONDAY = next_monday().date()
NOT_YET = "urn:vitalbridge:problem:not-yet-consistent"


def at(day, hour, minute=0, zone=NY):
    return datetime.combine(MONDAY + timedelta(days=day), time(hour, minute), tzinfo=zone)


def get(client, tenant, first, last, **headers):
    return client.get(URL, headers={**bearer(tenant.admin_key), **headers},
                      query_string={"from": str(first), "to": str(last)})


def items(response):
    assert response.status_code == 200, response.json
    return response.json["items"]


def live(client, tenant, owner_engine, first, last):
    """The report computed from the command tables: without its window row, the read
    model holds no date, so the same request is answered live."""
    with owner_engine.begin() as conn:
        held = conn.execute(text("DELETE FROM provider_day_window WHERE tenant_id = :t"
                                 " RETURNING first_date, last_date, updated_at"),
                            {"t": tenant.id}).one()
    try:
        return items(get(client, tenant, first, last))
    finally:
        with owner_engine.begin() as conn:
            conn.execute(text("INSERT INTO provider_day_window VALUES (:t, :f, :l, :u)"),
                         {"t": tenant.id, "f": held.first_date, "l": held.last_date,
                          "u": held.updated_at})


def post(client, tenant, path, body=None):
    response = client.post(path, headers=bearer(tenant.admin_key), json=body or {})
    assert response.status_code in (200, 201), response.json
    return response


@pytest.fixture
def clinic(app, tenant):
    """Three providers: New York hours; a Tokyo provider whose hours are in New York; one
    in Tokyo. Built, so the read model holds its window."""
    with app.app_context():
        ny = ProviderFactory(tenant_id=tenant.id, family_name="Avery", timezone="America/New_York")
        WorkingHoursFactory(tenant_id=tenant.id, provider_id=ny.id)
        mixed = ProviderFactory(tenant_id=tenant.id, family_name="Brook", timezone="Asia/Tokyo")
        WorkingHoursFactory(tenant_id=tenant.id, provider_id=mixed.id)
        tokyo = ProviderFactory(tenant_id=tenant.id, family_name="Chen", timezone="Asia/Tokyo")
        WorkingHoursFactory(tenant_id=tenant.id, provider_id=tokyo.id, timezone="Asia/Tokyo")
        patients = [PatientFactory(tenant_id=tenant.id) for _ in range(3)]
    catch_up(app)
    rebuild(app, tenant.id)
    return {"ny": ny, "mixed": mixed, "tokyo": tokyo, "patients": patients}


def book(client, tenant, provider, patient, start, minutes=30):
    return post(client, tenant, "/api/v1/appointments", {
        "provider_id": str(provider.id), "patient_id": str(patient.id),
        "start": start.isoformat(), "duration": minutes}).json["id"]


def busy_week(client, tenant, clinic):
    """Bookings, moves, cancellations, an override, approved leave: every kind of change."""
    ny, mixed, tokyo, (p1, p2, p3) = (clinic["ny"], clinic["mixed"], clinic["tokyo"],
                                      clinic["patients"])
    first = book(client, tenant, ny, p1, at(0, 9))
    clinic["moves"] = book(client, tenant, ny, p3, at(1, 11))
    book(client, tenant, ny, p2, at(0, 16, 30), minutes=30)
    moved = book(client, tenant, mixed, p1, at(1, 10))
    post(client, tenant, f"/api/v1/appointments/{moved}/reschedule",
         {"start": at(3, 15).isoformat()})
    post(client, tenant, f"/api/v1/appointments/{first}/cancel", {"reason": "asked"})
    checked = book(client, tenant, tokyo, p3, at(2, 9, zone=TOKYO), minutes=60)
    post(client, tenant, f"/api/v1/appointments/{checked}/check-in")
    override = client.put(f"/api/v1/providers/{ny.id}/overrides/{MONDAY + timedelta(days=2)}",
                          headers=bearer(tenant.admin_key),
                          json={"intervals": [{"start": "10:00", "end": "12:00"}]})
    assert override.status_code == 200, override.json
    leave = post(client, tenant, f"/api/v1/providers/{mixed.id}/leave-requests", {
        "start": at(4, 9).isoformat(), "end": at(4, 13).isoformat(),
        "reason": "conference"}).json["id"]
    post(client, tenant, f"/api/v1/leave-requests/{leave}/approve")


def test_the_report_from_the_read_model_equals_the_live_one(app, client, tenant, clinic,
                                                            owner_engine):
    busy_week(client, tenant, clinic)
    catch_up(app)
    first, last = MONDAY - timedelta(days=1), MONDAY + timedelta(days=8)
    answer = get(client, tenant, first, last)
    assert answer.json["meta"]["status"] == "current"
    assert items(answer) == live(client, tenant, owner_engine, first, last)
    by_name = {item["display_name"].split()[-1]: item for item in items(answer)}
    assert by_name["Brook"]["timezone"] == "America/New_York"  # its hours' zone
    assert by_name["Chen"]["totals"]["booked_minutes"] == 60
    assert by_name["Avery"]["totals"]["cancellations"] == 1
    assert_read_models_match(app, tenant.id)
    # A move delivered alone: its old date is known from the event only.
    post(client, tenant, f"/api/v1/appointments/{clinic['moves']}/reschedule",
         {"start": at(4, 14).isoformat()})
    catch_up(app)
    assert items(get(client, tenant, first, last)) == live(
        client, tenant, owner_engine, first, last)


def test_hours_in_a_new_zone_and_a_deactivation_reach_every_date(app, client, tenant,
                                                                 clinic, owner_engine):
    busy_week(client, tenant, clinic)
    response = client.put(f"/api/v1/providers/{clinic['ny'].id}/working-hours",
                          headers=bearer(tenant.admin_key), json={
                              "timezone": "Asia/Tokyo",
                              "effective_from": str(MONDAY + timedelta(days=3)),
                              "rules": [{"weekday": d, "start": "08:00", "end": "12:00"}
                                        for d in range(5)]})
    assert response.status_code == 200, response.json
    post(client, tenant, f"/api/v1/providers/{clinic['tokyo'].id}/deactivate")
    catch_up(app)
    for first, last in ((MONDAY, MONDAY + timedelta(days=2)),  # zone on `to`: New York
                        (MONDAY, MONDAY + timedelta(days=10))):  # Tokyo
        assert items(get(client, tenant, first, last)) == live(
            client, tenant, owner_engine, first, last)
    assert_read_models_match(app, tenant.id)


def test_with_the_relay_stopped_the_report_is_behind_and_the_token_waits(app, client, tenant,
                                                                        clinic):
    booked = client.post("/api/v1/appointments", headers=bearer(tenant.admin_key), json={
        "provider_id": str(clinic["ny"].id), "patient_id": str(clinic["patients"][0].id),
        "start": at(0, 9).isoformat(), "duration": 30})
    token = booked.headers["Consistency-Token"]
    stale = get(client, tenant, MONDAY, MONDAY)
    assert stale.json["meta"]["status"] == "behind"
    assert sum(i["totals"]["booked_minutes"] for i in items(stale)) == 0
    waited = get(client, tenant, MONDAY, MONDAY, **{"Consistency-Token": token,
                                                     "Prefer": "wait=1"})
    assert waited.status_code == 503
    assert waited.json["type"] == NOT_YET
    catch_up(app)
    ready = get(client, tenant, MONDAY, MONDAY, **{"Consistency-Token": token})
    assert ready.json["meta"]["status"] == "current"
    assert sum(i["totals"]["booked_minutes"] for i in items(ready)) == 30


def reads_of(app, request):
    with data_reads(app) as reads:
        answer = request()
    assert answer.status_code == 200, answer.json
    return answer, reads


def test_dates_outside_the_window_are_computed_live(app, client, tenant, clinic):
    answer, outside = reads_of(app, lambda: get(client, tenant, date(2024, 1, 1),
                                                date(2024, 1, 31)))
    assert answer.json["meta"]["status"] == "current"
    assert not any("FROM provider_days" in sql for sql in outside), outside
    _, inside = reads_of(app, lambda: get(client, tenant, MONDAY, MONDAY))
    assert any("provider_days r" in sql for sql in inside), inside


def test_a_page_from_the_read_model_costs_five_statements(app, client, tenant, clinic):
    for days in (0, 60):
        _, statements = reads_of(app, lambda d=days: get(
            client, tenant, MONDAY, MONDAY + timedelta(days=d)))
        # The key, the providers, their zones on `to`, the window, the page with meta.
        assert len(statements) == 5, statements


def test_an_etag_and_304(client, tenant, clinic):
    first = get(client, tenant, MONDAY, MONDAY + timedelta(days=6))
    again = get(client, tenant, MONDAY, MONDAY + timedelta(days=6),
                **{"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


def test_the_roll_fills_the_new_last_dates_and_drops_the_old(app, client, tenant, clinic,
                                                             owner_engine):
    svc = app.extensions["vitalbridge"]
    model = svc.read_model("provider_days")
    with owner_engine.begin() as conn:
        last = conn.execute(text("SELECT last_date FROM provider_day_window"
                                 " WHERE tenant_id = :t"), {"t": tenant.id}).scalar_one()
        # As if the date had turned three times since: three last dates unfilled, and
        # a date now before the window still held.
        conn.execute(text("UPDATE provider_day_window SET last_date = :l,"
                          " first_date = first_date - 3 WHERE tenant_id = :t"),
                     {"t": tenant.id, "l": last - timedelta(days=3)})
        conn.execute(text("DELETE FROM provider_days WHERE tenant_id = :t"
                          " AND local_date > :l"), {"t": tenant.id, "l": last - timedelta(days=3)})
        conn.execute(text(
            "INSERT INTO provider_days SELECT tenant_id, provider_id, zone, local_date - 500,"
            " day_key || '-old', working_minutes, booked_minutes, appointments, cancellations,"
            " no_shows, day_json, computed_at FROM provider_days WHERE tenant_id = :t"
            " ORDER BY local_date LIMIT 1"), {"t": tenant.id})
    with app.app_context():
        report = roll_windows(svc.db, owner_engine, svc.queries, model)
    assert report.tenants >= 1
    assert report.new_dates >= 3
    assert_read_models_match(app, tenant.id)
    with owner_engine.connect() as conn:
        assert conn.execute(text("SELECT last_date FROM provider_day_window"
                                 " WHERE tenant_id = :t"), {"t": tenant.id}).scalar_one() >= last
