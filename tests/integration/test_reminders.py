"""Appointment reminders (the scheduler's every-minute job): each appointment and lead
time emits ``appointment.reminder_due`` exactly once, or not at all, as the rules say.

The job's clock is moved with time-machine; the appointments are booked at real times
ahead (a booking in the past is refused), so "booked at" is the database's real clock.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import text

from tests.appointment_factories import AppointmentFactory
from tests.factories import dispatch_as_system
from tests.patient_factories import PatientFactory
from tests.provider_factories import ProviderFactory
from vitalbridge.appointment.messages import CancelAppointment, RescheduleAppointment
from vitalbridge.messaging.uow import UnitOfWork
from vitalbridge.reminder_job import RemindersFailed, send_reminders
from vitalbridge.scheduler import JOBS
from vitalbridge.tenant.messages import UpdateTenantSettings

DAY, HOURS_2 = 1440, 120


@pytest.fixture
def clinic(app, tenant):
    """A provider and a patient of ``tenant``."""
    with app.app_context():
        return (ProviderFactory(tenant_id=tenant.id).id,
                PatientFactory(tenant_id=tenant.id).id)


def soon(days=0, minutes=0):
    """A real instant ahead of now, whole minutes."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now + timedelta(days=days, minutes=minutes)


def book(app, tenant, clinic, start, minutes=30):
    provider_id, patient_id = clinic
    with app.app_context():
        return AppointmentFactory(tenant_id=tenant.id, provider_id=provider_id,
                                  patient_id=patient_id, start=start,
                                  end=start + timedelta(minutes=minutes)).id


def run_job_at(app, moment):
    """Run the job with the clock at ``moment``, as the scheduler would."""
    with time_machine.travel(moment, tick=False), app.app_context():
        return send_reminders()


def reminders(owner_engine):
    """(appointment id, lead minutes, start) of every reminder emitted, in order."""
    with owner_engine.connect() as conn:
        rows = conn.execute(text("SELECT envelope FROM outbox "
                                 "WHERE type = 'appointment.reminder_due' ORDER BY seq"))
        return [(e["data"]["appointment_id"], e["data"]["lead_minutes"], e["data"]["start"])
                for e in rows.scalars()]


def leads_of(owner_engine, appointment_id):
    return [lead for aid, lead, _ in reminders(owner_engine) if aid == str(appointment_id)]


def before(start, minutes):
    return start - timedelta(minutes=minutes)


def test_each_lead_is_reminded_once_as_the_clock_crosses_it(app, tenant, clinic,
                                                            owner_engine):
    start = soon(days=3)
    booked = book(app, tenant, clinic, start)
    assert run_job_at(app, before(start, DAY + 1)) == 0
    assert run_job_at(app, before(start, DAY - 1)) == 1
    assert run_job_at(app, before(start, DAY - 1)) == 0
    assert run_job_at(app, before(start, 300)) == 0
    assert leads_of(owner_engine, booked) == [DAY]
    assert run_job_at(app, before(start, HOURS_2)) == 1
    assert run_job_at(app, start + timedelta(minutes=1)) == 0
    assert leads_of(owner_engine, booked) == [DAY, HOURS_2]


def test_the_event_carries_ids_and_the_start_only(app, tenant, clinic, owner_engine):
    provider_id, patient_id = clinic
    start = soon(days=2)
    booked = book(app, tenant, clinic, start)
    run_job_at(app, before(start, 60))
    with owner_engine.connect() as conn:
        envelopes = conn.execute(text(
            "SELECT envelope FROM outbox WHERE type = 'appointment.reminder_due' "
            "ORDER BY seq")).scalars().all()
    assert [e["data"]["lead_minutes"] for e in envelopes] == [HOURS_2, DAY]
    for envelope in envelopes:
        assert envelope["aggregate_type"] == "appointment"
        assert envelope["aggregate_id"] == str(booked)
        assert envelope["actor"] == {"key_id": None, "role": "system"}
        assert envelope["data"] == {
            "appointment_id": str(booked), "patient_id": str(patient_id),
            "provider_id": str(provider_id),
            "start": start.isoformat().replace("+00:00", "Z"),
            "lead_minutes": envelope["data"]["lead_minutes"]}


def test_a_clock_that_jumps_past_both_leads_emits_each_once(app, tenant, clinic,
                                                            owner_engine):
    start = soon(days=4)
    booked = book(app, tenant, clinic, start)
    assert run_job_at(app, before(start, 30)) == 2
    assert run_job_at(app, before(start, 29)) == 0
    assert sorted(leads_of(owner_engine, booked)) == [HOURS_2, DAY]


def test_runs_side_by_side_emit_each_reminder_once(app, tenant, clinic, owner_engine):
    start = soon(days=5)
    booked = [book(app, tenant, clinic, start + timedelta(minutes=5 * n), minutes=5)
              for n in range(12)]
    moment = before(start, 10)  # every lead of every one of them is due
    totals: list[int] = []
    barrier = threading.Barrier(4)

    def scheduler() -> None:
        with app.app_context():
            barrier.wait()
            totals.append(send_reminders(moment))

    threads = [threading.Thread(target=scheduler) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(totals) == 24
    emitted = [(aid, lead) for aid, lead, _ in reminders(owner_engine)]
    assert sorted(emitted) == sorted((str(b), lead) for b in booked for lead in (DAY, HOURS_2))


def test_a_run_that_dies_before_commit_leaves_its_reminders_to_the_next(
        app, tenant, clinic, owner_engine, monkeypatch):
    start = soon(days=2)
    booked = book(app, tenant, clinic, start)

    def crash(*_args):  # the scheduler dies between claiming and committing
        raise ConnectionError("scheduler lost")

    with monkeypatch.context() as patched:
        patched.setattr(UnitOfWork, "_append_to_outbox", crash)
        with pytest.raises(RemindersFailed):
            run_job_at(app, before(start, 100))
    assert reminders(owner_engine) == []
    assert run_job_at(app, before(start, 99)) == 2  # the standby's run sends them, once
    assert sorted(leads_of(owner_engine, booked)) == [HOURS_2, DAY]


def test_a_cancelled_appointment_gets_no_more_reminders(app, tenant, clinic, owner_engine):
    start = soon(days=3)
    booked = book(app, tenant, clinic, start)
    run_job_at(app, before(start, DAY - 1))
    with app.app_context():
        dispatch_as_system(CancelAppointment(appointment_id=booked, reason="patient"),
                           tenant.id)
    assert run_job_at(app, before(start, HOURS_2 - 1)) == 0
    assert leads_of(owner_engine, booked) == [DAY]


def test_a_rescheduled_appointment_is_reminded_again_for_its_new_start(app, tenant, clinic,
                                                                       owner_engine):
    start = soon(days=3)
    booked = book(app, tenant, clinic, start)
    run_job_at(app, before(start, DAY - 1))
    moved = start + timedelta(days=2)
    with app.app_context():
        dispatch_as_system(RescheduleAppointment(
            appointment_id=booked, start=moved, end=moved + timedelta(minutes=30),
            provider_active=True, working=((moved, moved + timedelta(minutes=30)),),
            leave=()), tenant.id)
    assert run_job_at(app, before(start, HOURS_2 - 1)) == 0  # the old start: nothing
    assert run_job_at(app, before(moved, DAY - 1)) == 1
    assert run_job_at(app, before(moved, HOURS_2 - 1)) == 1
    starts = [(lead, when) for aid, lead, when in reminders(owner_engine)]
    assert [when for _, when in starts] == [
        start.isoformat().replace("+00:00", "Z"),
        *[moved.isoformat().replace("+00:00", "Z")] * 2]


def test_no_reminder_for_a_lead_the_booking_was_already_inside(app, tenant, clinic,
                                                               owner_engine, client):
    start = soon(minutes=90)  # inside the day's and the two hours' lead when booked
    booked = book(app, tenant, clinic, start)
    assert run_job_at(app, before(start, 80)) == 0
    with app.app_context():
        dispatch_as_system(UpdateTenantSettings(reminder_lead_minutes=(DAY, HOURS_2, 30)),
                           tenant.id)
    assert run_job_at(app, before(start, 40)) == 0
    assert run_job_at(app, before(start, 29)) == 1
    assert leads_of(owner_engine, booked) == [30]


def test_a_quiet_minute_writes_nothing(app, tenant, clinic, owner_engine):
    start = soon(days=6)
    book(app, tenant, clinic, start)

    def audit_rows() -> int:
        with owner_engine.connect() as conn:
            return conn.scalar(text("SELECT count(*) FROM audit_log "
                                    "WHERE command = 'SendDueReminders'"))

    assert run_job_at(app, before(start, 3 * DAY)) == 0
    assert audit_rows() == 0
    assert run_job_at(app, before(start, 60)) == 2
    assert audit_rows() == 1


def test_each_tenant_is_reminded_by_its_own_lead_times(app, tenant, other_tenant, clinic,
                                                      owner_engine):
    with app.app_context():
        theirs = (ProviderFactory(tenant_id=other_tenant.id).id,
                  PatientFactory(tenant_id=other_tenant.id).id)
        dispatch_as_system(UpdateTenantSettings(reminder_lead_minutes=(600,)),
                           other_tenant.id)
    start = soon(days=2)
    ours = book(app, tenant, clinic, start)
    other = book(app, other_tenant, theirs, start)
    assert run_job_at(app, before(start, 599)) == 2  # ours (a day); theirs (ten hours)
    assert leads_of(owner_engine, ours) == [DAY]
    assert leads_of(owner_engine, other) == [600]


def test_the_scheduler_runs_the_reminder_job_every_minute():
    job = {job.name: job for job in JOBS}["send_reminders"]
    assert job.interval == timedelta(minutes=1)
