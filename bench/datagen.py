"""The benchmark dataset: one large clinic and three small ones, loaded fast by SQL.

At ``--scale 1`` the large clinic has 2,000 providers (exactly 50 cardiologists, for the
50-provider query) with weekday hours 08:00-17:00 America/New_York and, every 20th, a week
of approved leave; 1,000,000 patients; 1,000,000 half-hour appointments on the weekdays
of the past 275 days and the next 90, inside working hours, never overlapping. Past ones
completed, cancelled (8 %) or no-show (4 %); future ones booked or cancelled (6 %); those
in approved leave cancelled, as the leave's reaction would have. ``--scale 0.01`` is the
same at 1 % (but 60 providers, so the 50-provider specialty exists). Tenants and admin
keys come from the app's CreateTenant; the rest is INSERT ... SELECT as the owner (past
row-level security, every constraint checked); then the app's own ``flask read-models
rebuild --all`` and VACUUM ANALYZE.

    .venv/bin/python -m bench.datagen --scale 0.01 [--owner-url URL]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter

from sqlalchemy import Connection, create_engine, text

ROOT = Path(__file__).resolve().parents[1]
ZONE = "America/New_York"
SPECIALTY = "Cardiology"  # exactly SPECIALTY_SIZE providers of the large clinic
SPECIALTY_SIZE = 50


def _names(listed: str) -> list[str]:
    return listed.split("|")


# Names people misspell: accents, apostrophes, particles, double-barrelled ones.
GIVEN = _names(
    "José|Zoë|Chloé|Renée|Łukasz|Søren|Anaïs|François|Björn|Siobhán|Nguyễn Văn|Mary|John|"
    "Maria|Mohammed|Wei|Aoife|Jürgen|Ana-Sofía|Jean-Luc|Dmitri|Priya|Olivia|Liam|Noah|Emma|"
    "Ava|Lucas|Mia|Elijah|Amelia|Mateo|Sofía|Hannah|Kateřina|Zoltán|Ingrid|Thanh|Yusuf|Fatima")
FAMILY = _names(
    "Müller|Nguyễn|O'Brien|García|Martínez|Smith|Johnson|Schröder|Øvergård|D'Angelo|McDonald|"
    "Van der Berg|Łopuszański|Kowalczyk|Hernández|Brown|Williams|Jones|Davis|Rodríguez|López|"
    "González|Pérez|Wilson|Anderson|Thomas|Taylor|Moore|Jackson|Martin|Lee|Thompson|White|"
    "Harris|Sánchez|Clark|Ramírez|Lewis|Robinson|Walker|Young|Allen|King|Wright|Scott|Torres|"
    "Hill|Flores|Green|Adams|Nelson|Baker|Hall|Rivera|Campbell|Mitchell|Carter|Roberts|Phạm|"
    "Trần|Lê|Dvořák|Nowak|Fernández|Gómez|Díaz|Çelik|Öztürk|Yilmaz|Kim|Park|Choi|Fitzgerald|"
    "O'Connor|Ní Bhriain|Bergström")
OTHER_SPECIALTIES = ["Family Medicine", "Pediatrics", "Dermatology", "Orthopedics"]

_DROP_IDS = "DROP TABLE IF EXISTS vb_provider_ids, vb_patient_ids"
# Numbered ids first, so that appointments can pick providers and patients by number.
_IDS = """
CREATE TEMP TABLE vb_provider_ids AS
  SELECT i, gen_random_uuid() AS id FROM generate_series(0, :providers - 1) AS i;
CREATE TEMP TABLE vb_patient_ids AS
  SELECT i, gen_random_uuid() AS id FROM generate_series(0::bigint, :patients - 1) AS i;
CREATE UNIQUE INDEX ON vb_provider_ids (i);
CREATE UNIQUE INDEX ON vb_patient_ids (i)
"""
_PROVIDERS = """
INSERT INTO providers (tenant_id, id, given_name, family_name, specialty, email, timezone)
SELECT :tenant, id, (CAST(:given AS text[]))[1 + i * 7 % cardinality(CAST(:given AS text[]))],
       (CAST(:family AS text[]))[1 + i * 13 % cardinality(CAST(:family AS text[]))],
       CASE WHEN i < :specialty_size THEN :specialty
            ELSE (CAST(:others AS text[]))[1 + i % cardinality(CAST(:others AS text[]))] END,
       'provider' || i || '@clinic.example', :zone
  FROM vb_provider_ids;
INSERT INTO working_hours (tenant_id, provider_id) SELECT :tenant, id FROM vb_provider_ids;
INSERT INTO working_hours_versions (tenant_id, provider_id, effective_from, timezone, rules)
SELECT :tenant, id, date '0001-01-01', :zone,
       (SELECT jsonb_agg(jsonb_build_object('weekday', d, 'start', '08:00', 'end', '17:00'))
          FROM generate_series(0, 4) AS d)
  FROM vb_provider_ids
"""
# Every 20th provider: Monday to Friday off, two weeks from now (local days).
_LEAVE = """
WITH leave AS (
  INSERT INTO leave_requests (tenant_id, id, provider_id, starts_at, ends_at, reason, status)
  SELECT :tenant, gen_random_uuid(), id, monday AT TIME ZONE :zone,
         (monday + interval '5 days') AT TIME ZONE :zone, 'conference', 'approved'
    FROM vb_provider_ids,
         LATERAL (SELECT (date_trunc('week', now() AT TIME ZONE :zone) + interval '14 days')
                  AS monday) AS w
   WHERE i % 20 = 0
  RETURNING tenant_id, id, provider_id, starts_at, ends_at)
INSERT INTO appointment_provider_leave (tenant_id, leave_id, provider_id, starts_at, ends_at)
SELECT tenant_id, id, provider_id, starts_at, ends_at FROM leave
"""
_PATIENTS = """
WITH names AS (SELECT CAST(:given AS text[]) AS given, CAST(:family AS text[]) AS family),
 made AS (
  INSERT INTO patients (tenant_id, id, mrn, given_name, family_name, birth_date, sex, phone)
  SELECT :tenant, id, 'M' || lpad(i::text, 8, '0'),
         given[1 + (i * 7919 % cardinality(given))::int],
         CASE WHEN i % 10 = 3  -- a tenth with double-barrelled family names
              THEN family[1 + (i * 104729 % cardinality(family))::int] || '-'
                   || family[1 + (i * 31 % cardinality(family))::int]
              ELSE family[1 + (i * 104729 % cardinality(family))::int] END,
         date '1935-01-01' + (i * 37 % 32000)::int,
         (ARRAY['female', 'male', 'female', 'male', 'other', 'unknown'])[1 + (i % 6)::int],
         '+1555' || lpad((i % 10000000)::text, 7, '0')
    FROM vb_patient_ids, names
  RETURNING tenant_id, id, mrn)
INSERT INTO patient_mrns (tenant_id, mrn, patient_id) SELECT tenant_id, mrn, id FROM made
"""
# Appointment g: provider g % P; its k-th (k = g / P) falls on weekday number
# k * days / per_provider (at most two a day, as per_provider < 2 x days), at half hour
# (p + k) % 18 of 08:00-17:00, so no two of a provider overlap. Patient g * 7919 % N
# (7919 is a prime that divides no patient count used): each patient at most once.
_APPOINTMENTS = """
WITH days AS (
  SELECT row_number() OVER (ORDER BY day) - 1 AS w, day::date AS day
    FROM generate_series(current_date - 275, current_date + 90, interval '1 day') AS day
   WHERE extract(isodow FROM day) < 6),
 s AS (
  SELECT g, g % :providers AS p, g / :providers AS k
    FROM generate_series(0::bigint, :count - 1) AS g),
 slot AS (
  SELECT s.g, s.p, pr.id AS provider_id, pa.id AS patient_id,
         (d.day + time '08:00' + ((s.p + s.k) % 18) * interval '30 minutes')
           AT TIME ZONE :zone AS starts_at
    FROM s JOIN days d ON d.w = s.k * (SELECT count(*) FROM days) / :per_provider
    JOIN vb_provider_ids pr ON pr.i = s.p
    JOIN vb_patient_ids pa ON pa.i = s.g * 7919 % :patients)
INSERT INTO appointments (tenant_id, id, provider_id, patient_id, starts_at, ends_at, status,
                          reason, cancel_reason, created_at, updated_at)
SELECT :tenant, gen_random_uuid(), provider_id, patient_id, starts_at,
       starts_at + interval '30 minutes', x.status, 'checkup',
       CASE WHEN x.status <> 'cancelled' THEN NULL
            WHEN l.in_leave THEN 'provider_unavailable' ELSE 'patient' END,
       least(now(), starts_at) - (g % 30 + 1) * interval '1 day',
       least(now(), starts_at) - (g % 30) * interval '1 day'
  FROM slot
 CROSS JOIN LATERAL (SELECT EXISTS (
       SELECT 1 FROM appointment_provider_leave l
        WHERE l.tenant_id = :tenant AND l.provider_id = slot.provider_id
          AND l.starts_at < slot.starts_at + interval '30 minutes'
          AND l.ends_at > slot.starts_at) AS in_leave) AS l
 CROSS JOIN LATERAL (SELECT CASE
       WHEN l.in_leave THEN 'cancelled'
       WHEN starts_at >= now() THEN
            CASE WHEN (g * 31 + p) % 100 < 6 THEN 'cancelled' ELSE 'booked' END
       WHEN (g * 31 + p) % 100 < 8 THEN 'cancelled'
       WHEN (g * 31 + p) % 100 < 12 THEN 'no_show'
       ELSE 'completed' END AS status) AS x
"""


@dataclass(frozen=True)
class Shape:
    """How much of everything one tenant holds."""

    providers: int
    patients: int
    appointments: int

    @classmethod
    def large(cls, scale: float) -> Shape:
        return cls(max(round(2000 * scale), SPECIALTY_SIZE + 10), round(1_000_000 * scale),
                   round(1_000_000 * scale))


SMALL = Shape(providers=8, patients=400, appointments=1_000)


@dataclass(frozen=True)
class Dataset:
    """What the load needs of the large clinic."""

    tenant_id: uuid.UUID
    api_key: str
    shape: Shape


def generate(owner_url: str, pepper: str, scale: float) -> Dataset:
    """Migrate ``owner_url``'s database, load every tenant, rebuild the read models."""
    from vitalbridge import create_app
    from vitalbridge.cli_support import send_as_system
    from vitalbridge.tenant.messages import CreateTenant

    app = create_app(database_url=owner_url, env="production", api_key_pepper=pepper,
                     log_level="WARNING")
    with app.app_context():
        app.extensions["alembic"].upgrade()
        tenants = [send_as_system(CreateTenant(name=name, slug=slug, timezone=ZONE,
                                               with_admin_key=True))
                   for name, slug in [("Bench Health Network", "bench-network"),
                                      *((f"Small clinic {n}", f"small-{n}") for n in range(3))]]
    app.extensions["vitalbridge"].db.dispose()
    large = Shape.large(scale)
    engine = create_engine(owner_url)
    try:
        for ack, shape in zip(tenants, [large, SMALL, SMALL, SMALL], strict=True):
            with engine.begin() as conn:
                _load_tenant(conn, ack.id, shape)
    finally:
        engine.dispose()
    _rebuild_read_models(owner_url, pepper)
    return Dataset(tenants[0].id, tenants[0].extra["api_key"], large)


def _load_tenant(conn: Connection, tenant_id: uuid.UUID, shape: Shape) -> None:
    started = perf_counter()
    params = {"tenant": tenant_id, "zone": ZONE, "providers": shape.providers,
              "patients": shape.patients, "count": shape.appointments,
              "per_provider": -(-shape.appointments // shape.providers),
              "given": GIVEN, "family": FAMILY, "others": OTHER_SPECIALTIES,
              "specialty": SPECIALTY, "specialty_size": SPECIALTY_SIZE}
    for script in (_DROP_IDS, _IDS, _PROVIDERS, _LEAVE, _PATIENTS, _APPOINTMENTS):
        for statement in script.split(";\n"):
            conn.execute(text(statement), params)
    conn.execute(text(_DROP_IDS))
    print(f"tenant {tenant_id}: {shape.providers:,} providers, {shape.patients:,} patients, "
          f"{shape.appointments:,} appointments in {perf_counter() - started:.1f} s",
          file=sys.stderr, flush=True)


def _rebuild_read_models(owner_url: str, pepper: str) -> None:
    """The app's own rebuild (the loaded rows have no events), then VACUUM ANALYZE, as
    autovacuum would have by the time anyone asks (index-only scans need it)."""
    started = perf_counter()
    env = {**os.environ, "DATABASE_URL": owner_url, "API_KEY_PEPPER": pepper,
           "VITALBRIDGE_ENV": "production", "LOG_LEVEL": "WARNING"}
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "read-models", "rebuild",
                    "--all"], env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    engine = create_engine(owner_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    print(f"read models rebuilt, VACUUM ANALYZE in {perf_counter() - started:.1f} s",
          file=sys.stderr, flush=True)


def main() -> None:
    """Load the dataset into an empty database (or a fresh one, like the tests')."""
    from bench.clinic import owner_database

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=0.01)
    parser.add_argument("--owner-url", help="owner URL of an empty database to use")
    parser.add_argument("--pepper", default="bench-pepper-" + "x" * 32)
    args = parser.parse_args()
    with owner_database(args.owner_url) as url:
        data = generate(url, args.pepper, args.scale)
        print(f"tenant {data.tenant_id}, admin key {data.api_key}")


if __name__ == "__main__":
    main()
