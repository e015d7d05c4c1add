"""What the load asks for: the free slots bookings take, and the paths of the queries.

Bookable slots are the half hours of the large clinic's working hours (weekdays
08:00-17:00 America/New_York) from 100 days ahead on, past the loaded appointments (90
days ahead at most) and the approved leave. Booking number n takes provider n % P at slot
n / P for patient n % Q; each run of bookings (app, floor, pgbench) gets its own range of
numbers from ``Numbers``, so no two requests of the whole run ask for the same slot.
The tables in schema ``bench`` hold the same lists for pgbench's script.
"""

from __future__ import annotations

import random
import unicodedata
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, text

from bench.datagen import SPECIALTY, ZONE

FIRST_BOOKING_DAY = 100  # days from today: after the last loaded appointment
PATHS_PER_QUERY = 400

_TABLES = """
CREATE SCHEMA bench;
CREATE TABLE bench.booking_providers AS
  SELECT row_number() OVER (ORDER BY id) - 1 AS i, id FROM providers WHERE tenant_id = :tenant;
CREATE TABLE bench.booking_patients AS
  SELECT row_number() OVER (ORDER BY id) - 1 AS i, id FROM patients WHERE tenant_id = :tenant
   ORDER BY id LIMIT :patients;
CREATE TABLE bench.booking_slots AS
  SELECT row_number() OVER (ORDER BY day, h) - 1 AS i,
         (day::date + time '08:00' + h * interval '30 minutes') AT TIME ZONE :zone AS starts_at
    FROM generate_series(current_date + :first_day, current_date + :first_day + :days,
                         interval '1 day') AS day, generate_series(0, 17) AS h
   WHERE extract(isodow FROM day) < 6;
CREATE UNIQUE INDEX ON bench.booking_providers (i);
CREATE UNIQUE INDEX ON bench.booking_patients (i);
CREATE UNIQUE INDEX ON bench.booking_slots (i);
CREATE SEQUENCE bench.booking_number
"""
_FILES = {
    "providers.txt": "SELECT id::text FROM bench.booking_providers ORDER BY i",
    "patients.txt": "SELECT id::text FROM bench.booking_patients ORDER BY i",
    "slots.txt": """SELECT to_char(starts_at AT TIME ZONE 'UTC',
                                   'YYYY-MM-DD"T"HH24:MI:SS"+00:00"')
                      FROM bench.booking_slots ORDER BY i""",
}


class Numbers:
    """Hands out disjoint ranges of booking numbers, up to ``capacity``."""

    def __init__(self, capacity: int) -> None:
        self.capacity, self.next = capacity, 0

    def take(self, count: int) -> int:
        """The first of ``count`` numbers nobody else gets."""
        first, self.next = self.next, self.next + count
        if self.next > self.capacity:
            raise RuntimeError(f"{self.next} booking numbers wanted, {self.capacity} made")
        return first


def prepare_bookings(owner_url: str, tenant_id: uuid.UUID, providers: int, numbers: int,
                     folder: Path) -> Numbers:
    """The slot tables for ``numbers`` bookings, and their files for wrk in ``folder``."""
    slots_needed = numbers // providers + 1
    params = {"tenant": tenant_id, "zone": ZONE, "first_day": FIRST_BOOKING_DAY,
              "patients": max(providers, 2000), "days": slots_needed // 18 * 7 // 5 + 7}
    engine = create_engine(owner_url)
    with engine.begin() as conn:
        for statement in _TABLES.split(";\n"):
            conn.execute(text(statement), params)
        for name, query in _FILES.items():
            lines = conn.execute(text(query)).scalars().all()
            (folder / name).write_text("\n".join(lines) + "\n")
        slots = conn.execute(text("SELECT count(*) FROM bench.booking_slots")).scalar_one()
    engine.dispose()
    return Numbers(slots * providers)


def query_paths(owner_url: str, tenant_id: uuid.UUID, folder: Path) -> dict[str, Path]:
    """A file of request paths for each query, built from the large clinic's rows."""
    rng = random.Random(16)
    engine = create_engine(owner_url)
    with engine.connect() as conn:
        providers = [str(i) for i in conn.execute(text(
            "SELECT id FROM providers WHERE tenant_id = :tenant"), {"tenant": tenant_id}).scalars()]
        sample = conn.execute(text(
            "SELECT id::text, given_name || ' ' || family_name FROM patients "
            "WHERE tenant_id = :tenant ORDER BY random() LIMIT :n"),
            {"tenant": tenant_id, "n": PATHS_PER_QUERY}).all()
    engine.dispose()
    patients, names = [row[0] for row in sample], [row[1] for row in sample]
    today = datetime.now(ZoneInfo(ZONE)).date()
    paths = {
        "slots, 1 provider, 7 days": [_availability(today, rng, provider_id=rng.choice(providers))
                                      for _ in range(PATHS_PER_QUERY)],
        "slots, specialty of 50, 7 days": [_availability(today, rng, specialty=SPECIALTY)
                                           for _ in range(PATHS_PER_QUERY)],
        "search patients (typos)": ["/api/v1/patients?" + urlencode({"q": _typed(name, rng)})
                                    for name in names],
        "view appointments, provider week": [_provider_week(today, rng, rng.choice(providers))
                                             for _ in range(PATHS_PER_QUERY)],
        "get patient": [f"/api/v1/patients/{patient}" for patient in patients],
    }
    files = {}
    for n, (label, lines) in enumerate(paths.items()):
        files[label] = folder / f"paths-{n}.txt"
        files[label].write_text("\n".join(lines) + "\n")
    return files


def _availability(today: date, rng: random.Random, **which: str) -> str:
    start = today + timedelta(days=rng.randint(1, 14))
    return "/api/v1/availability?" + urlencode({
        **which, "from": _local_midnight(start), "to": _local_midnight(start + timedelta(7))})


def _provider_week(today: date, rng: random.Random, provider: str) -> str:
    monday = today - timedelta(days=today.weekday() + 7 * rng.randint(-12, 38))
    return "/api/v1/appointments?" + urlencode({
        "provider_id": provider, "from": _local_midnight(monday),
        "to": _local_midnight(monday + timedelta(7))})


def _local_midnight(day: date) -> str:
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(ZONE)).isoformat()


def _typed(name: str, rng: random.Random) -> str:
    """``name`` as someone types it: often without accents or capitals, with one slip
    (a letter dropped, doubled or swapped with the next) in most."""
    if rng.random() < 0.6:
        name = "".join(c for c in unicodedata.normalize("NFKD", name)
                       if not unicodedata.combining(c))
    if rng.random() < 0.5:
        name = name.lower()
    at = rng.randrange(1, len(name) - 1)
    slip = rng.choice(["drop", "double", "swap", "none"])
    if slip == "drop":
        return name[:at] + name[at + 1:]
    if slip == "double":
        return name[:at] + name[at] + name[at:]
    if slip == "swap":
        return name[:at] + name[at + 1] + name[at] + name[at + 2:]
    return name
