"""A rebuild while 20 writers keep booking and cancelling through the HTTP API.

One clinic with a few hundred appointments; the relay runs the whole time (its real
loop, ``Relay.run``, in a thread) so that the writers' events are applied to the live
tables while every read model is rebuilt, one after the other, in the main thread.
Each writer owns a patient, books on shared providers (clashes are legitimate 409s)
and cancels its own bookings; after each command it reads its patient's summary and
the day sheet with the command's Consistency-Token (``Prefer: wait=10``).

What must hold:

- no command and no query answers 5xx; commands answer 2xx or a 409 refusal, queries
  200 (a 503 not-yet-consistent would mean the relay stalled for 10 s: a failure too);
- every answer served while a read model it reads is being rebuilt says
  ``rebuilding``, and at least some were (the load really overlapped the rebuild);
- read your writes holds during the rebuild: the summary counts exactly the writer's
  booked appointments, the day sheet shows the touched appointment's status;
- afterwards, with the relay drained, every read model equals a recomputation.

About ``behind``. The acceptance text says answers during the rebuild say
``rebuilding`` or ``current``. An answer says ``rebuilding`` whenever its snapshot sees
the rebuild under way, whatever waits; outside that (before a rebuild's start commits,
between two read models' rebuilds, after a swap) it says ``behind`` whenever any
writer's event waits for the relay, which with 20 writers is nearly always, and which
shared/API.md says it must. A Consistency-Token does not change that: it makes the
server wait for the asker's own writes, not for the other writers'. So the test does
not pause the writers to hide ``behind``; it makes the claim precise and stricter
instead: the rebuild's read model is wrapped (``Observed``) to note when the rebuild
pages through the keys, a span that starts after its start has committed and ends
before its swap begins. Every answer sent and received inside such a span of a read
model the query reads must say ``rebuilding``, not merely ``rebuilding`` or
``current``. Every other answer (before a start, between two rebuilds, after a swap,
or straddling one, which may fall either side of its commit) is held to 200 and a
status shared/API.md names.

The rebuilds of the read models these queries read page through the keys 10 at a time
(production: 1000) so that a few hundred appointments take seconds and the relay's
applies interleave with many pages; any other read model of the app is rebuilt too, at
the production page size, and compared with its recomputation like the others.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask

from tests.appointment_factories import AppointmentFactory, next_monday
from tests.conftest import bearer
from tests.factories import TenantFactory, TenantHandle, dispatch_as_system
from tests.patient_factories import PatientFactory
from tests.provider_factories import ProviderFactory
from tests.read_model_helpers import assert_read_models_match, catch_up
from tests.schedule_factories import WorkingHoursFactory
from vitalbridge import create_app
from vitalbridge.appointment.messages import CancelAppointment
from vitalbridge.messaging.cli import build_relay
from vitalbridge.messaging.read_models import BEHIND, CURRENT, REBUILDING
from vitalbridge.messaging.rebuild import PAGE_SIZE, exclusive, rebuild_tenant

pytestmark = pytest.mark.slow

NY = ZoneInfo("America/New_York")
WRITERS = 20
PROVIDERS, BACKGROUND_PATIENTS, BACKGROUND_BOOKINGS = 4, 200, 400
OBSERVED_PAGE_SIZE = 10  # for the read models the queries read; others page as in production
SLOTS_A_DAY = 16  # 09:00-17:00 in half hours, the factory's working hours
HISTORY_WEEK = next_monday(3)  # where the setup's bookings lie
BUSY_WEEK = next_monday(2)  # where the writers book: Monday and Tuesday, many clashes
BUSY_DAYS = 2
WAIT = {"Prefer": "wait=10"}
# The read models each query's meta covers (appointment/read_model_queries.py): the
# day sheet shows each line's patient from the patient summaries.
READS: dict[str, set[str]] = {"summary": {"patient_summaries"},
                              "day_sheet": {"day_sheet", "patient_summaries"}}
QUERIES = frozenset(READS)
REFUSED = 409


def slot(week: datetime, index: int) -> datetime:
    """The half-hour slot ``index`` of a week's working days, in New York."""
    day, half_hours = divmod(index, SLOTS_A_DAY)
    return (week + timedelta(days=day, hours=9, minutes=30 * half_hours)).replace(tzinfo=NY)


# The clinic ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clinic:
    """The tenant, its providers, and the patients the writers own (one each)."""

    tenant: TenantHandle
    providers: list[uuid.UUID]
    writer_patients: list[uuid.UUID]


def open_clinic(app: Flask) -> Clinic:
    """Providers with working hours, patients, 400 bookings (every 7th cancelled)."""
    with app.app_context():
        tenant = TenantFactory()
        providers = [ProviderFactory(tenant_id=tenant.id).id for _ in range(PROVIDERS)]
        for provider in providers:
            WorkingHoursFactory(tenant_id=tenant.id, provider_id=provider)
        patients = [PatientFactory(tenant_id=tenant.id).id for _ in range(BACKGROUND_PATIENTS)]
        for n in range(BACKGROUND_BOOKINGS):  # each slot: every provider, distinct patients
            booked = AppointmentFactory(
                tenant_id=tenant.id, provider_id=providers[n % PROVIDERS],
                patient_id=patients[n % BACKGROUND_PATIENTS],
                start=slot(HISTORY_WEEK, n // PROVIDERS))
            if n % 7 == 0:
                dispatch_as_system(CancelAppointment(appointment_id=booked.id,
                                                     reason="patient asked"), tenant.id)
        mine = [PatientFactory(tenant_id=tenant.id).id for _ in range(WRITERS)]
    catch_up(app)
    return Clinic(tenant=tenant, providers=providers, writer_patients=mine)


# The writers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One request: what it was, when it was sent and answered, and what it said."""

    kind: str  # book, cancel, summary, day_sheet
    sent: float
    received: float
    status: int
    meta: str | None


@dataclass
class Writer:
    """Books and cancels for its own patient, and reads its writes back after each."""

    app: Flask
    clinic: Clinic
    patient_id: uuid.UUID
    rng: random.Random
    answers: list[Answer]
    mismatches: list[str]
    booked: dict[str, tuple[uuid.UUID, datetime]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.client = self.app.test_client()
        self.headers = bearer(self.clinic.tenant.admin_key)

    def run(self, stop: threading.Event, errors: list[BaseException]) -> None:
        try:
            while not stop.is_set():
                self.step()
        except Exception as error:  # noqa: BLE001 - reported by the test, not lost
            errors.append(error)

    def step(self) -> None:
        if self.booked and self.rng.random() < 0.4:
            appointment_id = self.rng.choice(sorted(self.booked))
            provider, start = self.booked.pop(appointment_id)
            answer = self.call("cancel", "post", f"/api/v1/appointments/{appointment_id}/cancel",
                               json={"reason": "patient asked"})
            expected = "cancelled"
        else:
            provider = self.rng.choice(self.clinic.providers)
            start = slot(BUSY_WEEK, self.rng.randrange(BUSY_DAYS * SLOTS_A_DAY))
            answer = self.call("book", "post", "/api/v1/appointments", json={
                "provider_id": str(provider), "patient_id": str(self.patient_id),
                "start": start.isoformat(), "duration": 30})
            if answer.status_code != 201:
                return
            appointment_id, expected = answer.json["id"], "booked"
            self.booked[appointment_id] = (provider, start)
        if answer.status_code < 300:
            self.read_back(answer.headers["Consistency-Token"], appointment_id, provider,
                           start, expected)

    def read_back(self, token: str, appointment_id: str, provider: uuid.UUID,
                  start: datetime, expected: str) -> None:
        """The summary and the day sheet, waiting for this writer's last command."""
        headers = {"Consistency-Token": token, **WAIT}
        summary = self.call("summary", "get", f"/api/v1/patients/{self.patient_id}/summary",
                            headers=headers)
        if summary.status_code == 200 and summary.json["upcoming_count"] != len(self.booked):
            self.mismatches.append(f"summary counts {summary.json['upcoming_count']} "
                                   f"upcoming, the writer booked {len(self.booked)}")
        sheet = self.call("day_sheet", "get", "/api/v1/day-sheet", headers=headers,
                          query_string={"date": start.date().isoformat(),
                                        "provider_id": str(provider), "limit": 200})
        if sheet.status_code == 200:
            shown = {line["id"]: line["status"] for line in sheet.json["items"]}
            if shown.get(appointment_id) != expected:
                self.mismatches.append(f"day sheet shows {appointment_id} as "
                                       f"{shown.get(appointment_id)}, not {expected}")

    def call(self, kind: str, method: str, url: str, headers: dict[str, str] | None = None,
             **kwargs: Any) -> Any:
        sent = time.monotonic()
        response = getattr(self.client, method)(url, headers={**self.headers, **(headers or {})},
                                                **kwargs)
        received = time.monotonic()
        body = response.get_json(silent=True) or {}
        meta = body.get("meta", {}).get("status") if kind in QUERIES else None
        self.answers.append(Answer(kind, sent, received, response.status_code, meta))
        return response


# The relay and the rebuild ------------------------------------------------------------------


def start_relay(app: Flask, stop: threading.Event,
                errors: list[BaseException]) -> threading.Thread:
    """The production relay loop (LISTEN/NOTIFY and a 0.1 s poll) in a thread."""
    with app.app_context():
        relay = build_relay()

    def run() -> None:
        try:
            relay.run(stop)
        except Exception as error:  # noqa: BLE001 - reported by the test, not lost
            errors.append(error)
        finally:
            relay.engine.dispose()

    thread = threading.Thread(target=run, name="relay", daemon=True)
    thread.start()
    return thread


class Observed:
    """A read model as the rebuild sees it, noting when the rebuild pages its keys.

    rebuild_tenant commits the start (``rebuilding_since``) before the first page and
    swaps after the last: every moment in ``[first, last]`` is inside the rebuild.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.first: float | None = None
        self.last: float | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)

    def key_page(self, reader: Any, after: str | None, limit: int) -> list[str]:
        if self.first is None:
            self.first = time.monotonic()
        page = self.model.key_page(reader, after, limit)
        self.last = time.monotonic()
        return page


@dataclass(frozen=True)
class Window:
    """When a read model was surely being rebuilt."""

    name: str
    start: float
    end: float

    def holds(self, answer: Answer) -> bool:
        return (self.name in READS[answer.kind]
                and self.start <= answer.sent and answer.received <= self.end)


def rebuild_every_read_model(app: Flask, tenant_id: uuid.UUID) -> list[Window]:
    """Rebuild each read model of the app, one after the other, as the CLI does."""
    svc = app.extensions["vitalbridge"]
    windows = []
    for model in svc.read_models:
        observed = Observed(model)
        read = any(model.name in names for names in READS.values())
        with exclusive(svc.db, model):
            rebuild_tenant(svc.db, svc.queries, observed, tenant_id,  # type: ignore[arg-type]
                           page_size=OBSERVED_PAGE_SIZE if read else PAGE_SIZE)
        assert observed.first is not None
        assert observed.last is not None
        windows.append(Window(model.name, observed.first, observed.last))
    return windows


def wait_for_answers(answers: list[Answer], count: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while len(answers) < count and time.monotonic() < deadline:
        time.sleep(0.05)


# The test ------------------------------------------------------------------------------------


@pytest.fixture
def loaded_app(owner_url: str):  # type: ignore[no-untyped-def]
    """An app with connections for 20 writers, the relay and the rebuild."""
    application = create_app(database_url=owner_url, env="testing", database_pool_size=30,
                             outbox_poll_seconds=0.1, log_level="WARNING")
    yield application
    application.extensions["vitalbridge"].db.dispose()


def test_a_rebuild_under_twenty_writers_fails_no_answer_and_loses_nothing(loaded_app):
    app = loaded_app
    clinic = open_clinic(app)
    answers: list[Answer] = []
    mismatches: list[str] = []
    errors: list[BaseException] = []
    stop_writers, stop_relay = threading.Event(), threading.Event()
    relay = start_relay(app, stop_relay, errors)
    writers = [threading.Thread(target=Writer(
        app, clinic, patient, random.Random(n), answers, mismatches).run,
        args=(stop_writers, errors), daemon=True)
        for n, patient in enumerate(clinic.writer_patients)]
    try:
        for thread in writers:
            thread.start()
        wait_for_answers(answers, 3 * WRITERS)  # every writer under way
        windows = rebuild_every_read_model(app, clinic.tenant.id)
        wait_for_answers(answers, len(answers) + 2 * WRITERS)  # and on after the swaps
    finally:
        stop_writers.set()
        for thread in writers:
            thread.join(timeout=60)
        stop_relay.set()
        relay.join(timeout=30)
    assert not errors, errors
    catch_up(app)

    failed = [a for a in answers if a.status >= 500]
    assert not failed, f"{len(failed)} answers failed: {failed[:5]}"
    commands = [a for a in answers if a.kind not in QUERIES]
    queries = [a for a in answers if a.kind in QUERIES]
    assert {a.status for a in commands} <= {200, 201, REFUSED}, {a.status for a in commands}
    assert {a.status for a in queries} == {200}
    assert {a.kind for a in commands if a.status < 300} == {"book", "cancel"}
    assert {a.meta for a in queries} <= {CURRENT, BEHIND, REBUILDING}

    during = [a for a in queries if any(w.holds(a) for w in windows)]
    not_rebuilding = [a for a in during if a.meta != REBUILDING]
    assert not not_rebuilding, f"{len(not_rebuilding)} of {len(during)} answers during " \
                               f"the rebuild did not say rebuilding: {not_rebuilding[:5]}"
    assert any(a.meta == REBUILDING for a in queries), "no answer overlapped a rebuild"
    for window in windows:
        if any(window.name in names for names in READS.values()):
            assert any(window.holds(a) for a in during), (
                f"no answer fell inside the rebuild of {window.name}")
    assert_read_models_match(app, clinic.tenant.id)
    assert not mismatches, f"{len(mismatches)} reads missed the writer's own writes: " \
                           f"{mismatches[:5]}"
