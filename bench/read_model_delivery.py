"""Benchmark of the relay with the read models subscribed (read-models issue, acceptance 5).

N appointment.created events of real appointments (of 20 providers and 2,000 patients of
one clinic) are committed at once; one ``relay.drain()`` delivers them to every
subscriber the app wires: the day sheet and the daily provider figures recompute the
keys of each batch (a booking changes no patient summary). Then every fourth
appointment is cancelled (N/4 appointment.cancelled events, which the patient summaries
follow too) and a second drain is timed. Printed: events/s of each drain, and the read
models' row counts afterwards (every appointment on the day sheet, every patient
summarised).

Usage: .venv/bin/python -m bench.read_model_delivery [--events 20000] [--batch 500]
Uses TEST_DATABASE_URL's server if set, else a throwaway embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, text

from bench.clinic import BenchClinic, owner_database
from vitalbridge import heap
from vitalbridge.messaging.cli import build_relay
from vitalbridge.messaging.relay import Relay
from vitalbridge.provider.messages import AddProvider

PROVIDERS, PATIENTS = 20, 2000

# Appointments and their events written as one bulk statement each, behind the command
# bus (a booking per event through it would take minutes): each provider's appointments
# follow one another every 30 minutes from the start, patients taken in turn.
_APPOINTMENTS = text("""
INSERT INTO appointments (tenant_id, id, provider_id, patient_id, starts_at, ends_at)
SELECT :tenant, gen_random_uuid(), p.ids[1 + g % :providers], q.ids[1 + g % :patients],
       :start + (g / :providers) * interval '30 minutes',
       :start + (g / :providers) * interval '30 minutes' + interval '30 minutes'
  FROM generate_series(0, :n - 1) g,
       (SELECT array_agg(id ORDER BY id) AS ids FROM providers WHERE tenant_id = :tenant) p,
       (SELECT array_agg(id ORDER BY id) AS ids FROM patients WHERE tenant_id = :tenant) q
""")
_CANCEL = text("""
UPDATE appointments a
   SET status = 'cancelled', cancel_reason = 'bench', version = a.version + 1,
       updated_at = now()
  FROM (SELECT id, row_number() OVER (ORDER BY starts_at, id) AS n
          FROM appointments WHERE tenant_id = :tenant) r
 WHERE a.tenant_id = :tenant AND a.id = r.id AND r.n % 4 = 0
""")
# One event per appointment of the given status, in start order, with ``data`` holding
# the appointment's provider, patient and period and the extra fields of its type.
_EVENTS = text("""
WITH a AS (SELECT tenant_id, id, provider_id, patient_id, starts_at, ends_at,
                  gen_random_uuid() AS event_id  -- volatile: one per row
             FROM appointments WHERE tenant_id = :tenant AND status = :status)
INSERT INTO outbox (tenant_id, id, type, aggregate_type, aggregate_id, envelope)
SELECT a.tenant_id, a.event_id, CAST(:type AS text), 'appointment', a.id,
       jsonb_build_object(
         'id', a.event_id, 'type', CAST(:type AS text), 'version', 1,
         'tenant_id', a.tenant_id, 'aggregate_type', 'appointment', 'aggregate_id', a.id,
         'occurred_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
         'actor', jsonb_build_object('key_id', NULL, 'role', 'system'),
         'correlation_id', 'bench', 'causation_id', NULL,
         'data', jsonb_build_object('provider_id', a.provider_id, 'patient_id', a.patient_id,
                                    'start', a.starts_at, 'end', a.ends_at)
                 || CAST(:extra AS jsonb))
  FROM a
 ORDER BY a.starts_at, a.id
""")
_COUNTS = text("""
SELECT (SELECT count(*) FROM day_sheet) AS lines,
       (SELECT count(*) FROM patient_summaries) AS summaries,
       (SELECT count(*) FROM provider_days) AS provider_days
""")


def main() -> None:
    """Build the clinic, commit the events, time one drain; print Markdown rows."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--owner-url")
    args = parser.parse_args()
    with owner_database(args.owner_url) as url:
        clinic = BenchClinic(url, "UTC")
        for n in range(PROVIDERS):
            clinic.send(AddProvider(given_name="Bench", family_name=f"Provider {n}",
                                    specialty="General practice", timezone="UTC"),
                        clinic.tenant_id)
        clinic.add_patients(PATIENTS)
        with clinic.app.app_context():
            relay = build_relay()
        relay.batch_size = args.batch
        heap.settle()  # as `flask outbox relay` does once it has loaded the app
        relay.drain()  # the clinic's own events first
        owner = create_engine(url)
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
        params = {"tenant": clinic.tenant_id, "n": args.events, "start": start,
                  "providers": PROVIDERS, "patients": PATIENTS}
        with owner.begin() as conn:
            conn.execute(_APPOINTMENTS, params)
            conn.execute(_EVENTS, {**params, "type": "appointment.created",
                                   "status": "booked", "extra": '{"reason": null}'})
        booked = _timed_drain(relay)
        with owner.begin() as conn:
            conn.execute(_CANCEL, params)
            conn.execute(_EVENTS, {**params, "type": "appointment.cancelled",
                                   "status": "cancelled",
                                   "extra": '{"reason": "bench", "was": "booked"}'})
        cancelled = _timed_drain(relay)
        with owner.connect() as conn:
            counts = conn.execute(_COUNTS).one()
        owner.dispose()
    assert booked[0] == args.events, (booked, args.events)
    assert cancelled[0] == args.events // 4, (cancelled, args.events)
    for (delivered, elapsed), kind in ((booked, "appointment.created"),
                                       (cancelled, "appointment.cancelled")):
        print(f"| {delivered} {kind}, batches of {args.batch}, read models subscribed | "
              f"{delivered / elapsed:,.0f} events/s ({elapsed:.1f} s) |")
    print(f"| afterwards | {counts.lines} day-sheet lines, {counts.summaries} patient "
          f"summaries, {counts.provider_days} provider days |")


def _timed_drain(relay: Relay) -> tuple[int, float]:
    """Events delivered by one drain, and the seconds it took."""
    started = time.perf_counter()
    delivered = relay.drain()
    return delivered, time.perf_counter() - started

if __name__ == "__main__":
    main()
