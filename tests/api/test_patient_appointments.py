"""A patient's appointments and visit summary through HTTP: the upcoming/past split,
order, pages, filters, names, provider keys, roles, tenants; age, next, last, counts."""

import itertools
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.appointment_factories import AppointmentFactory, move_to, next_monday
from tests.conftest import bearer, data_reads
from tests.factories import ApiKeyFactory, dispatch_as_system
from tests.patient_factories import PatientFactory
from tests.provider_factories import ProviderFactory
from tests.read_model_helpers import catch_up, rebuild
from vitalbridge.appointment.messages import (
    CancelAppointment,
    CheckInAppointment,
    CompleteAppointment,
    MarkNoShow,
)
from vitalbridge.messaging.messages import Role
from vitalbridge.tenant.messages import parse_api_key

NY = ZoneInfo("America/New_York")
MONDAY = next_monday()
# Where appointments bound for the past are booked first, one hour apart (see moved()).
PARKING = (MONDAY + timedelta(days=21)).replace(tzinfo=NY)


def at(hour, minute=0, day=0):
    """A New York wall-clock time on the Monday (plus ``day`` days) the tests book on."""
    return (MONDAY + timedelta(days=day)).replace(hour=hour, minute=minute, tzinfo=NY)


def days_ago(days, hour=10):
    """``hour`` o'clock UTC, ``days`` days before today."""
    return (datetime.now(UTC) - timedelta(days=days)).replace(hour=hour, minute=0, second=0,
                                                             microsecond=0)


def utc(moment):
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def key_for(app, tenant, role, **kwargs):
    with app.app_context():
        return ApiKeyFactory(tenant_id=tenant.id, role=role, **kwargs).key


def step(app, tenant, *commands):
    """Move appointments along their lifecycle through the real command bus."""
    with app.app_context():
        for command in commands:
            dispatch_as_system(command, tenant.id)


@pytest.fixture
def book(app, tenant, owner_engine):
    """book(provider, patient, start, minutes=30) -> the appointment's id.

    A start in the past cannot be booked (the in-the-past rule, through the API and the
    factory alike): such an appointment is booked in a free future slot first, then
    moved to its real period with an owner UPDATE (the length CHECK allows 8 hours).
    """
    parking_slots = itertools.count()

    def make(provider, patient, start, minutes=30):
        future = start > datetime.now(UTC)
        slot = start if future else PARKING + timedelta(hours=next(parking_slots))
        with app.app_context():
            made = AppointmentFactory(tenant_id=tenant.id, provider_id=provider.id,
                                      patient_id=patient.id, start=slot,
                                      end=slot + timedelta(minutes=minutes))
        if not future:
            move_to(owner_engine, made.id, start, minutes)
        return made.id

    return make


@pytest.fixture
def provider(app, tenant):
    with app.app_context():
        return ProviderFactory(tenant_id=tenant.id, given_name="Ada", family_name="Lovelace")


@pytest.fixture
def other_provider(app, tenant):
    with app.app_context():
        return ProviderFactory(tenant_id=tenant.id, given_name="Carl", family_name="Sagan")


@pytest.fixture
def patient(app, tenant):
    with app.app_context():
        return PatientFactory(tenant_id=tenant.id, given_name="Grace", family_name="Hopper",
                              birth_date=date(1906, 12, 9), sex="female")


@pytest.fixture
def other_patient(app, tenant):
    with app.app_context():
        return PatientFactory(tenant_id=tenant.id)


@pytest.fixture
def history(app, tenant, book, provider, other_provider, patient, other_patient):
    """Grace Hopper's appointments by name, and one of another patient.

    Upcoming, soonest first: under_way (started 10 minutes ago), monday_9, monday_11,
    tuesday_10. Past, latest first: completed_3d, cancelled_10d, booked_20d.
    """
    now = datetime.now(UTC)
    made = {
        "under_way": book(provider, patient, now - timedelta(minutes=10)),
        "monday_9": book(provider, patient, at(9)),
        "monday_11": book(other_provider, patient, at(11)),
        "tuesday_10": book(provider, patient, at(10, day=1)),
        "completed_3d": book(provider, patient, days_ago(3)),
        "cancelled_10d": book(other_provider, patient, days_ago(10)),
        "booked_20d": book(provider, patient, days_ago(20)),
        "someone_else": book(provider, other_patient, at(14)),
    }
    step(app, tenant, CheckInAppointment(appointment_id=made["completed_3d"]),
         CompleteAppointment(appointment_id=made["completed_3d"]),
         CancelAppointment(appointment_id=made["cancelled_10d"], reason="sick"))
    return made


def listed(client, key, patient_id, **params):
    response = client.get(f"/api/v1/patients/{patient_id}/appointments",
                          query_string=params, headers=bearer(key))
    assert response.status_code == 200, response.json
    return response.json


def ids_of(page):
    return [uuid.UUID(item["id"]) for item in page["items"]]


def names(history, *keys):
    return [history[key] for key in keys]


UPCOMING = ("under_way", "monday_9", "monday_11", "tuesday_10")
PAST = ("completed_3d", "cancelled_10d", "booked_20d")


# The list ----------------------------------------------------------------------------


def test_upcoming_by_default_soonest_first_including_one_under_way(client, tenant, patient,
                                                                   history):
    page = listed(client, tenant.admin_key, patient.id)
    assert ids_of(page) == names(history, *UPCOMING)
    assert page["next_cursor"] is None
    assert ids_of(listed(client, tenant.admin_key, patient.id, when="upcoming")) == names(
        history, *UPCOMING)


def test_past_latest_first(client, tenant, patient, history):
    page = listed(client, tenant.admin_key, patient.id, when="past")
    assert ids_of(page) == names(history, *PAST)
    assert [item["status"] for item in page["items"]] == ["completed", "cancelled", "booked"]


@pytest.mark.parametrize(("when", "expected"), [("upcoming", UPCOMING), ("past", PAST)])
def test_pages_follow_the_order(client, tenant, patient, history, when, expected):
    seen, cursor = [], None
    for _ in range(len(expected)):
        page = listed(client, tenant.admin_key, patient.id, when=when, limit=2,
                      **({"cursor": cursor} if cursor else {}))
        seen.append(ids_of(page))
        cursor = page["next_cursor"]
        if cursor is None:
            break
    expected_ids = names(history, *expected)
    assert seen == [expected_ids[i:i + 2] for i in range(0, len(expected_ids), 2)]


def test_status_filters_within_when(app, client, tenant, patient, history):
    step(app, tenant, CancelAppointment(appointment_id=history["tuesday_10"], reason="away"))
    assert ids_of(listed(client, tenant.admin_key, patient.id, status="cancelled")) == [
        history["tuesday_10"]]
    assert ids_of(listed(client, tenant.admin_key, patient.id, when="past",
                         status="cancelled")) == [history["cancelled_10d"]]
    assert ids_of(listed(client, tenant.admin_key, patient.id, when="past",
                         status="no_show")) == []


def test_items_carry_display_names_and_utc_times(client, tenant, patient, history):
    monday_9, monday_11 = listed(client, tenant.admin_key, patient.id)["items"][1:3]
    assert (monday_9["provider_name"], monday_9["patient_name"]) == ("Ada Lovelace",
                                                                     "Grace Hopper")
    assert monday_11["provider_name"] == "Carl Sagan"
    assert (monday_9["start"], monday_9["end"]) == (utc(at(9)), utc(at(9, 30)))
    assert set(monday_9) >= {"id", "provider_id", "patient_id", "status", "reason", "version",
                             "cancel_reason", "created_at", "updated_at"}


def test_names_come_from_one_batched_query_each(app, client, tenant, patient, history,
                                                 monkeypatch):
    queries = app.extensions["vitalbridge"].queries
    asked = []
    original = queries.ask
    monkeypatch.setattr(queries, "ask",
                        lambda query, principal: asked.append(type(query).__name__)
                        or original(query, principal))
    listed(client, tenant.admin_key, patient.id)
    assert [asked.count(name) for name in ("GetPatient", "ListAppointments", "FindProviders",
                                           "GetPatients", "GetProvider")] == [1, 1, 1, 1, 0]


def test_a_provider_key_sees_only_its_own_providers(app, client, tenant, provider,
                                                    other_provider, patient, history):
    mine = key_for(app, tenant, Role.PROVIDER, provider_id=provider.id)
    theirs = key_for(app, tenant, Role.PROVIDER, provider_id=other_provider.id)
    assert ids_of(listed(client, mine, patient.id)) == names(
        history, "under_way", "monday_9", "tuesday_10")
    assert ids_of(listed(client, theirs, patient.id, when="past")) == names(
        history, "cancelled_10d")


def test_a_provider_key_learns_nothing_of_patients_it_never_saw(app, client, tenant,
                                                                provider):
    mine = key_for(app, tenant, Role.PROVIDER, provider_id=provider.id)
    with app.app_context():
        stranger = PatientFactory(tenant_id=tenant.id)
    # A patient of the clinic it never saw answers as an unknown id does: 404.
    for patient_id in (stranger.id, uuid.uuid4()):
        response = client.get(f"/api/v1/patients/{patient_id}/appointments",
                              headers=bearer(mine))
        assert response.status_code == 404, response.json


@pytest.mark.parametrize("role", [Role.STAFF, Role.READONLY])
def test_staff_and_readonly_read_the_list(app, client, tenant, patient, history, role):
    key = key_for(app, tenant, role)
    assert ids_of(listed(client, key, patient.id)) == names(history, *UPCOMING)


def test_unknown_and_other_tenants_patients_are_404(client, tenant, other_tenant, patient,
                                                    history):
    for key, patient_id in ((tenant.admin_key, uuid.uuid4()),
                            (other_tenant.admin_key, patient.id)):
        for what in ("appointments", "summary"):
            response = client.get(f"/api/v1/patients/{patient_id}/{what}",
                                  headers=bearer(key))
            assert response.status_code == 404, (what, response.json)


@pytest.mark.parametrize("params", [{"when": "soon"}, {"status": "lost"},
                                    {"cursor": "nonsense"}, {"limit": 0},
                                    {"whenn": "past"}])
def test_bad_arguments_are_422_naming_them(client, tenant, patient, params):
    response = client.get(f"/api/v1/patients/{patient.id}/appointments",
                          query_string=params, headers=bearer(tenant.admin_key))
    assert response.status_code == 422
    assert list(response.json["errors"]) == list(params)


def test_a_platform_key_is_403(client, platform_key, patient):
    for what in ("appointments", "summary"):
        response = client.get(f"/api/v1/patients/{patient.id}/{what}",
                              headers=bearer(platform_key))
        assert response.status_code == 403


# The summary -------------------------------------------------------------------------


def summary_of(client, key, patient_id):
    """The summary once the read model has caught up with every change, moved rows too."""
    app = client.application
    catch_up(app)
    rebuild(app, parse_api_key(key).tenant_id)  # the moved ones (owner UPDATEs) too
    response = client.get(f"/api/v1/patients/{patient_id}/summary", headers=bearer(key))
    assert response.status_code == 200, response.json
    return response.json


def a_year_before(moment):
    try:
        return moment.replace(year=moment.year - 1)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year - 1, day=28)


def test_summary_of_a_patient_with_history(app, client, tenant, book, provider, patient,
                                           history):
    older_visit = book(provider, patient, days_ago(30))
    no_show = book(provider, patient, days_ago(5))
    long_ago = [book(provider, patient, days_ago(400, hour)) for hour in (9, 11)]
    step(app, tenant, CheckInAppointment(appointment_id=older_visit),
         CompleteAppointment(appointment_id=older_visit),
         MarkNoShow(appointment_id=no_show),
         CancelAppointment(appointment_id=long_ago[0], reason="too old to count"),
         MarkNoShow(appointment_id=long_ago[1]),
         CancelAppointment(appointment_id=history["monday_9"], reason="future: not counted"))
    before = datetime.now(UTC)
    summary = summary_of(client, tenant.admin_key, patient.id)
    after = datetime.now(UTC)

    as_of = datetime.fromisoformat(summary["as_of"])
    assert summary["as_of"].endswith("Z")
    assert before <= as_of <= after
    demographics = ("id", "mrn", "given_name", "family_name", "birth_date", "sex")
    assert {field: summary["patient"][field] for field in demographics} == {
        "id": str(patient.id), "mrn": patient.mrn, "given_name": "Grace",
        "family_name": "Hopper", "birth_date": "1906-12-09", "sex": "female"}
    assert {"email", "phone", "address", "version", "updated_at"} <= set(summary["patient"])
    assert summary["next_appointment"]["id"] == str(history["under_way"])
    assert summary["next_appointment"]["provider_name"] == "Ada Lovelace"
    assert summary["last_visit"]["id"] == str(history["completed_3d"])
    assert (summary["last_visit"]["status"], summary["last_visit"]["patient_name"]) == (
        "completed", "Grace Hopper")
    assert summary["recent"] == {"since": utc(a_year_before(as_of)), "cancellations": 1,
                                 "no_shows": 1}


def test_a_visit_cancelled_ahead_of_time_counts_once_its_start_has_passed(
        app, client, tenant, book, provider, patient):
    # "recent" counts misses by when they were due (README, the summary's row), and the
    # stored row is not recomputed as time passes: the answer counts by its own moment.
    start = datetime.now(UTC) + timedelta(seconds=6)
    visit = book(provider, patient, start, minutes=5)
    step(app, tenant, CancelAppointment(appointment_id=visit, reason="cancelled ahead"))
    catch_up(app)

    def recent_cancellations():
        response = client.get(f"/api/v1/patients/{patient.id}/summary",
                              headers=bearer(tenant.admin_key))
        assert response.status_code == 200, response.json
        return response.json["recent"]["cancellations"]

    assert recent_cancellations() == 0
    assert datetime.now(UTC) < start, "too slow to ask before the start"
    time.sleep((start - datetime.now(UTC)).total_seconds() + 0.5)
    assert recent_cancellations() == 1


def test_the_next_appointment_skips_cancelled_and_may_be_checked_in(app, client, tenant,
                                                                     patient, history):
    step(app, tenant, CancelAppointment(appointment_id=history["under_way"], reason="x"),
         CheckInAppointment(appointment_id=history["monday_9"]))
    next_appointment = summary_of(client, tenant.admin_key, patient.id)["next_appointment"]
    assert (next_appointment["id"], next_appointment["status"]) == (
        str(history["monday_9"]), "checked_in")


def test_a_patient_without_appointments_has_nulls_and_zeros(client, tenant, other_patient):
    summary = summary_of(client, tenant.admin_key, other_patient.id)
    assert (summary["next_appointment"], summary["last_visit"]) == (None, None)
    assert (summary["recent"]["cancellations"], summary["recent"]["no_shows"]) == (0, 0)


def test_age_turns_on_the_birthday_not_the_day_before(app, client, tenant):
    today = datetime.now(UTC).date()
    tomorrow = today + timedelta(days=1)
    # 28 years back keeps a 29 February a real date (28 is a multiple of 4).
    birthday_today = date(today.year - 28, today.month, today.day)
    birthday_tomorrow = date(tomorrow.year - 28, tomorrow.month, tomorrow.day)
    with app.app_context():
        today_patient = PatientFactory(tenant_id=tenant.id, birth_date=birthday_today)
        tomorrow_patient = PatientFactory(tenant_id=tenant.id, birth_date=birthday_tomorrow)
    assert summary_of(client, tenant.admin_key, today_patient.id)["age"] == 28
    assert summary_of(client, tenant.admin_key, tomorrow_patient.id)["age"] == 27


@pytest.mark.parametrize(("role", "status"), [(Role.STAFF, 200), (Role.READONLY, 200),
                                              (Role.PROVIDER, 403)])
def test_summary_roles(app, client, tenant, provider, patient, role, status):
    key = key_for(app, tenant, role,
                  **({"provider_id": provider.id} if role == Role.PROVIDER else {}))
    catch_up(app)
    response = client.get(f"/api/v1/patients/{patient.id}/summary", headers=bearer(key))
    assert response.status_code == status


def test_summary_is_one_statement_however_long_the_history(app, client, tenant, patient,
                                                           history):
    summary_of(client, tenant.admin_key, patient.id)  # caught up
    with data_reads(app) as reads:
        response = client.get(f"/api/v1/patients/{patient.id}/summary",
                              headers=bearer(tenant.admin_key))
    assert response.status_code == 200
    summary_reads = [s for s in reads if "patient_summaries" in s]
    assert len(summary_reads) == 1, reads
    assert len(reads) == 2, reads  # that one, and the key check


def test_summary_counts_upcoming_and_says_it_is_current(client, tenant, patient, history):
    summary = summary_of(client, tenant.admin_key, patient.id)
    assert summary["upcoming_count"] == len(UPCOMING)
    assert summary["meta"]["status"] == "current"
    assert summary["meta"]["lag_seconds"] == 0
    assert summary["meta"]["as_of"] == summary["as_of"]
