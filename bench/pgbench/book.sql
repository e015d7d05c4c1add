-- The booking's SQL, as bench/floor_app.py sends it, for pgbench -M prepared: the
-- appointment (both GiST exclusion constraints) and its outbox row in one transaction.
-- Booking number n = nextval('bench.booking_number') takes the same slot as in
-- bench/wrk/book.lua; the harness sets the sequence to this run's first number.
BEGIN;
WITH n AS (SELECT nextval('bench.booking_number') AS n)
INSERT INTO appointments (tenant_id, id, provider_id, patient_id, starts_at, ends_at, reason)
SELECT CAST(:tenant AS uuid), gen_random_uuid(), p.id, q.id, s.starts_at, s.starts_at + interval '30 minutes',
       'bench-pgbench'
  FROM n JOIN bench.booking_providers p ON p.i = n.n % CAST(:providers AS bigint)
  JOIN bench.booking_patients q ON q.i = n.n % CAST(:patients AS bigint)
  JOIN bench.booking_slots s ON s.i = n.n / CAST(:providers AS bigint)
RETURNING id AS appointment_id \gset
INSERT INTO outbox (tenant_id, id, type, aggregate_type, aggregate_id, envelope)
VALUES (:tenant, gen_random_uuid(), 'bench.floor_booked', 'appointment', :appointment_id,
        '{"type": "bench.floor_booked", "version": 1, "data": {}}');
COMMIT;
