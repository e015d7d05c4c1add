"""Fault test of the read models: the relay SIGKILLed in the middle of applying a batch.

A writer keeps sending the commands the read models follow (bookings, cancellations,
reschedules, check-ins and completions, patient and provider renames) through the
command bus. Relay processes (tests/fault/read_model_relay.py) apply slowly enough
that a kill lands inside an apply: each recomputation of a read model's rows sleeps
before and after its statements, in the apply's transaction. Twenty times, the active
relay is killed with SIGKILL after it has begun its first, second or third apply, at a
random moment of that apply (before or after the rows were replaced, always before the
commit, which follows the recomputation); a standby relay, started once the active one
applies, takes over when the relay lock is free. Then a relay that is not slowed
drains everything. Other subscribers of the same batch (the other read models, the
appointment reactions) may have committed before the kill: the batch is redelivered
to them too, and their inbox must drop what they already applied.

What must hold: each kill landed inside an apply; every relay process is reaped and no
session of the relay role is left in the database; nothing is undelivered or parked;
every read model equals a recomputation from the command tables.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import Engine, text

from tests.appointment_factories import next_monday
from tests.factories import TenantFactory, dispatch_as_system
from tests.fault.conftest import ROOT
from tests.patient_factories import PatientFactory
from tests.provider_factories import ProviderFactory
from tests.read_model_helpers import assert_read_models_match
from tests.schedule_factories import WorkingHoursFactory
from vitalbridge import create_app
from vitalbridge.appointment.messages import (
    CancelAppointment,
    CheckInAppointment,
    CompleteAppointment,
    CreateAppointment,
    RescheduleAppointment,
)
from vitalbridge.messaging.errors import DomainError
from vitalbridge.messaging.messages import Command
from vitalbridge.patient.messages import UpdatePatient
from vitalbridge.provider.messages import UpdateProvider

pytestmark = pytest.mark.slow

KILLS = 20
APPLY_SECONDS = 0.1  # slept before and after each recomputation of an apply
NY = ZoneInfo("America/New_York")
WEEK = next_monday(2)
DAYS, SLOTS_A_DAY = 10, 16  # two working weeks, 09:00-17:00 in half hours
NAMES = ("Ada", "Grace", "Edsger", "Barbara", "Donald", "Frances")

_WAITING = text("""
SELECT (SELECT count(*) FROM outbox WHERE delivered_at IS NULL) AS undelivered,
       (SELECT count(*) FROM parked_deliveries) AS parked
""")
_RELAY_SESSIONS = text("""
SELECT count(*) FROM pg_stat_activity
 WHERE datname = current_database() AND usename = :role AND pid <> pg_backend_pid()
""")


# Relay processes -------------------------------------------------------------------------


def start_relay(url: str, log: Path | None = None) -> subprocess.Popen[bytes]:
    """A relay process against ``url``; slowed, and noting its applies in ``log``, if given."""
    env = {**os.environ, "DATABASE_URL": url, "VITALBRIDGE_ENV": "testing",
           "READ_MODEL_APPLY_SECONDS": str(APPLY_SECONDS) if log else "",
           "READ_MODEL_RELAY_LOG": str(log or "")}
    return subprocess.Popen([sys.executable, "-m", "tests.fault.read_model_relay"], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def notes(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def wait_for_applies(relay: subprocess.Popen[bytes], log: Path, count: int,
                     seconds: float = 60) -> None:
    """Until the relay has begun its ``count``-th apply."""
    deadline = time.monotonic() + seconds
    while sum(line.startswith("begin") for line in notes(log)) < count:
        if relay.poll() is not None:
            pytest.fail(f"the relay exited ({relay.returncode}) before applying")
        if time.monotonic() > deadline:
            pytest.fail(f"the relay began no {count} applies in {seconds} s")
        time.sleep(0.005)


def kill(relay: subprocess.Popen[bytes]) -> None:
    if relay.poll() is None:
        relay.send_signal(signal.SIGKILL)
    relay.wait(timeout=30)


@dataclass
class Relays:
    """Every relay process started, so that none outlives the test."""

    url: str
    folder: Path
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def slowed(self) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.folder / f"relay-{len(self.started)}.log"
        self.started.append(start_relay(self.url, log))
        return self.started[-1], log

    def plain(self) -> subprocess.Popen[bytes]:
        self.started.append(start_relay(self.url))
        return self.started[-1]

    def kill_all(self) -> None:
        for relay in self.started:
            kill(relay)


def kill_mid_apply(relays: Relays, rng: random.Random) -> list[list[str]]:
    """Kill the active relay KILLS times inside an apply; at each kill, the read models
    whose apply had begun and not ended (the read models apply a batch side by side, so
    the last note may be another one's end).

    The standby starts once the active relay applies (so holds the relay lock): two
    relays starting together could elect either.
    """
    active, log = relays.slowed()
    open_at_kills = []
    for _ in range(KILLS):
        wait_for_applies(active, log, 1)
        standby = relays.slowed()  # waits for the relay lock, starts up meanwhile
        wait_for_applies(active, log, rng.randint(1, 3))
        time.sleep(rng.uniform(0, 1.5 * APPLY_SECONDS))  # before or after the rows
        kill(active)
        open_at_kills.append(open_applies(notes(log)))
        active, log = standby
    kill(active)
    return open_at_kills


def open_applies(lines: list[str]) -> list[str]:
    """The read models noted as begun more often than ended."""
    begun = Counter(line.split()[1] for line in lines if line.startswith("begin"))
    ended = Counter(line.split()[1] for line in lines if line.startswith("end"))
    return sorted(model for model in begun if begun[model] > ended[model])


def wait_until_applied(engine: Engine, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    with engine.connect() as conn:
        while True:
            waiting = conn.execute(_WAITING).one()
            conn.rollback()
            if waiting.undelivered == 0:
                return
            if time.monotonic() > deadline:
                pytest.fail(f"not delivered in {seconds} s: {waiting}")
            time.sleep(0.2)


def assert_no_relay_session_left(engine: Engine, role: str, seconds: float = 10) -> None:
    """No session of the relay role is left in the database (nor its advisory lock)."""
    deadline = time.monotonic() + seconds
    with engine.connect() as conn:
        while conn.execute(_RELAY_SESSIONS, {"role": role}).scalar_one():
            conn.rollback()
            if time.monotonic() > deadline:
                pytest.fail(f"relay sessions outlived their processes by {seconds} s")
            time.sleep(0.1)


# The clinic's commands ---------------------------------------------------------------------


def slot(index: int) -> tuple[datetime, datetime]:
    day, half_hours = divmod(index % (DAYS * SLOTS_A_DAY), SLOTS_A_DAY)
    day += 2 * (day // 5)  # Monday to Friday of two weeks
    start = (WEEK + timedelta(days=day, hours=9, minutes=30 * half_hours)).replace(tzinfo=NY)
    return start, start + timedelta(minutes=30)


@dataclass
class Clinic:
    """One tenant's people and appointments, and the commands a writer sends to it."""

    tenant_id: uuid.UUID
    providers: list[uuid.UUID]
    patients: list[uuid.UUID]
    rng: random.Random
    appointments: list[uuid.UUID] = field(default_factory=list)
    sent: int = 0

    def dispatch(self, command: Command) -> uuid.UUID | None:
        """Send ``command``; None when a rule refused it (a clash, an illegal step)."""
        self.sent += 1
        try:
            return dispatch_as_system(command, self.tenant_id).id
        except DomainError:
            return None

    def facts(self, start: datetime, end: datetime) -> dict[str, object]:
        return {"provider_active": True, "working": ((start, end),), "leave": ()}

    def step(self) -> None:
        """One command, mostly bookings; the others act on a booked appointment."""
        rng, roll = self.rng, self.rng.random()
        if roll < 0.45 or not self.appointments:
            start, end = slot(rng.randrange(DAYS * SLOTS_A_DAY))
            booked = self.dispatch(CreateAppointment(
                provider_id=rng.choice(self.providers), patient_id=rng.choice(self.patients),
                start=start, end=end, reason="check-up", **self.facts(start, end)))
            if booked is not None:
                self.appointments.append(booked)
            return
        appointment_id = rng.choice(self.appointments)
        if roll < 0.60:
            self.dispatch(CancelAppointment(appointment_id=appointment_id, reason="asked"))
        elif roll < 0.70:
            start, end = slot(rng.randrange(DAYS * SLOTS_A_DAY))
            self.dispatch(RescheduleAppointment(appointment_id=appointment_id, start=start,
                                                end=end, **self.facts(start, end)))
        elif roll < 0.85:
            self.dispatch(CheckInAppointment(appointment_id=appointment_id))
            self.dispatch(CompleteAppointment(appointment_id=appointment_id))
        elif roll < 0.95:
            self.dispatch(UpdatePatient(patient_id=rng.choice(self.patients), changes={
                "given_name": rng.choice(NAMES)}))
        else:  # shown on many rows of both read models
            self.dispatch(UpdateProvider(provider_id=rng.choice(self.providers),
                                         family_name=rng.choice(NAMES)))


def open_clinic(app: Flask, seed: int) -> Clinic:
    with app.app_context():
        tenant_id = TenantFactory().id
        providers = [ProviderFactory(tenant_id=tenant_id).id for _ in range(3)]
        for provider in providers:
            WorkingHoursFactory(tenant_id=tenant_id, provider_id=provider)
        patients = [PatientFactory(tenant_id=tenant_id).id for _ in range(20)]
    return Clinic(tenant_id=tenant_id, providers=providers, patients=patients,
                  rng=random.Random(seed))


@dataclass
class Writer:
    """Sends the clinic's commands in a thread until stopped."""

    app: Flask
    clinic: Clinic
    stop: threading.Event = field(default_factory=threading.Event)
    errors: list[BaseException] = field(default_factory=list)

    def run(self) -> None:
        with self.app.app_context():
            try:
                while not self.stop.is_set():
                    self.clinic.step()
            except Exception as error:  # noqa: BLE001 - reported by the test, not lost
                self.errors.append(error)

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        try:
            yield
        finally:
            self.stop.set()
            thread.join(timeout=60)


# The test ------------------------------------------------------------------------------------


@pytest.fixture
def fault_app(fault_db: str):  # type: ignore[no-untyped-def]
    application = create_app(database_url=fault_db, env="testing", log_level="WARNING")
    yield application
    application.extensions["vitalbridge"].db.dispose()


def test_relay_killed_mid_apply_twenty_times_leaves_read_models_equal_to_recomputation(
        fault_db, fault_engine, fault_app, tmp_path):
    clinic = open_clinic(fault_app, seed=20261124)
    writer = Writer(fault_app, clinic)
    relays = Relays(fault_db, tmp_path)
    try:
        with writer.running():
            open_at_kills = kill_mid_apply(relays, random.Random(20261124))
        final = relays.plain()
        wait_until_applied(fault_engine)
        final.terminate()
        final.wait(timeout=30)
    finally:
        relays.kill_all()
    assert not writer.errors, writer.errors
    assert [relay.returncode for relay in relays.started[:KILLS]] == [-signal.SIGKILL] * KILLS
    assert_no_relay_session_left(fault_engine, fault_app.config["SETTINGS"].database_relay_role)
    outside = [n for n, models in enumerate(open_at_kills) if not models]
    assert not outside, f"kills {outside} landed outside every apply: {open_at_kills}"
    assert clinic.sent > 200, clinic.sent
    with fault_engine.connect() as conn:
        assert conn.execute(_WAITING).one()._asdict() == {"undelivered": 0, "parked": 0}
    assert_read_models_match(fault_app, clinic.tenant_id)
