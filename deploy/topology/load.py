"""A steady stream of bookings from 8 clients, through nginx, for the failover drills.

Each client is a front desk of its own: its own staff key (the app limits commands per
key), its own loopback address (nginx limits requests per address), and its own
provider and patient, so its bookings (back to back, 5 minutes each) never collide
with another client's and every refusal is a real failure, not a 409. Each client
keeps to RATE_PER_CLIENT requests a second, under both limits.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from deploy.topology.client import Answer, Client
from deploy.topology.layout import Layout

CLIENTS = 8
RATE_PER_CLIENT = 6.0  # bookings a second per client: ~48/s in all
SLOT = timedelta(minutes=5)
ALL_DAY = [{"weekday": day, "start": "00:00", "end": "24:00"} for day in range(7)]


@dataclass
class FrontDesk:
    """One booking client: its key, provider, patient and the next slot it books."""

    client: Client
    provider_id: str
    patient_id: str
    first_slot: datetime
    booked: int = 0

    def book(self) -> Answer:
        start = self.first_slot + self.booked * SLOT
        self.booked += 1
        return self.client.post("/api/v1/appointments", {
            "provider_id": self.provider_id, "patient_id": self.patient_id,
            "start": start.isoformat(), "duration": 5, "reason": "topology drill"})


@dataclass
class Outcome:
    """Every answer a stream got, in order per client."""

    answers: list[Answer] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, answer: Answer) -> None:
        with self.lock:
            self.answers.append(answer)

    def booked_ids(self) -> list[str]:
        return [a.body["id"] for a in self.answers if a.status == 201]

    def failures(self) -> list[Answer]:
        """Answers that are no booking: 5xx and connections without an answer."""
        return [a for a in self.answers if a.status == 0 or a.status >= 500]

    def other(self) -> list[Answer]:
        """Neither a booking nor a failure (a 4xx would be a bug of the drill)."""
        return [a for a in self.answers if 0 < a.status < 500 and a.status != 201]


def front_desks(layout: Layout, admin_key: str) -> list[FrontDesk]:
    """Make each client's provider (all-day hours), patient and staff key via the API."""
    admin = Client(layout, key=admin_key)
    run = uuid.uuid4().hex[:6]
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).replace(hour=0, minute=0, second=0,
                                                                microsecond=0)
    desks = []
    for n in range(CLIENTS):
        provider = _created(admin.post("/api/v1/providers", {
            "given_name": "Drill", "family_name": f"Provider {run} {n}",
            "specialty": "Family Medicine", "timezone": "UTC"}))
        _created(admin.request("PUT", f"/api/v1/providers/{provider}/working-hours",
                               {"timezone": "UTC", "rules": ALL_DAY}), 200)
        patient = _created(admin.post("/api/v1/patients", {
            "given_name": "Drill", "family_name": f"Patient {run} {n}",
            "birth_date": "1980-01-01", "confirm_new": True}))
        key = admin.post("/api/v1/api-keys", {"name": f"front desk {run} {n}",
                                              "role": "staff"})
        _created(key)
        desks.append(FrontDesk(Client(layout, source=f"127.0.0.{10 + n}", key=key.body["key"]),
                               provider, patient, tomorrow))
    admin.close()
    return desks


@contextlib.contextmanager
def booking_stream(desks: list[FrontDesk]) -> Iterator[Outcome]:
    """Every desk books at RATE_PER_CLIENT until the block ends."""
    outcome, stop = Outcome(), threading.Event()
    threads = [threading.Thread(target=_book_until, args=(desk, outcome, stop), daemon=True)
               for desk in desks]
    for thread in threads:
        thread.start()
    try:
        yield outcome
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)


def _book_until(desk: FrontDesk, outcome: Outcome, stop: threading.Event) -> None:
    interval = 1 / RATE_PER_CLIENT
    next_at = time.monotonic()
    while not stop.is_set():
        outcome.add(desk.book())
        next_at += interval
        stop.wait(max(0.0, next_at - time.monotonic()))


def _created(answer: Answer, expected: int = 201) -> str:
    if answer.status != expected:
        raise RuntimeError(f"drill setup: {answer.status} {answer.body}")
    return str(answer.body["id"])
