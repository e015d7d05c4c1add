"""Appointment reminders: ``appointment.reminder_due`` once per appointment, start and lead.

A reminder for lead L is due when a booked appointment starts within L of now, and its
start was set (booked, or rescheduled to it) at least L before the start: a visit
booked an hour ahead gets no "tomorrow" reminder. ``updated_at`` is when the start was
set, since only booking and rescheduling write an appointment that is still booked.

Exactly once: each emitted reminder is a row of ``appointment_reminders`` keyed by
appointment, start and lead, inserted in the transaction that emits the event. A second
run (the job twice, or a scheduler taking over) finds the rows, or waits on the first
run's uncommitted ones and then skips them. A new start is a new key: a rescheduled
appointment is reminded again; a cancelled one is no longer booked, so nothing is due.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, text

from vitalbridge.appointment.messages import (
    AppointmentReminderDue,
    CountDueReminders,
    SendDueReminders,
)
from vitalbridge.appointment.model import AppointmentReminder
from vitalbridge.messaging.bus import ReadContext
from vitalbridge.messaging.messages import Ack, Query
from vitalbridge.messaging.uow import UnitOfWork

# Reminder rows are kept a day past their start (then nothing can be due for it).
KEEP_AFTER_START = timedelta(days=1)
BATCH = 1000  # reminders emitted per transaction: a burst commits in pieces

_DUE = """
SELECT a.id AS appointment_id, a.patient_id, a.provider_id, a.starts_at, lead.minutes
  FROM unnest(CAST(:leads AS integer[])) AS lead(minutes)
  JOIN appointments a
    ON a.tenant_id = :tenant AND a.status = 'booked'
   AND a.starts_at > :now AND a.starts_at <= :now + make_interval(mins => lead.minutes)
   AND a.updated_at <= a.starts_at - make_interval(mins => lead.minutes)
 WHERE NOT EXISTS (SELECT 1 FROM appointment_reminders r
                    WHERE r.tenant_id = a.tenant_id AND r.appointment_id = a.id
                      AND r.starts_at = a.starts_at AND r.lead_minutes = lead.minutes)
"""
_COUNT_DUE = text(f"SELECT count(*) FROM ({_DUE}) due")
_CLAIM_DUE = text(f"""
WITH due AS ({_DUE} ORDER BY a.starts_at, a.id, lead.minutes LIMIT :batch),
claimed AS (
  INSERT INTO appointment_reminders (tenant_id, appointment_id, starts_at, lead_minutes)
  SELECT :tenant, appointment_id, starts_at, minutes FROM due
  ON CONFLICT DO NOTHING
  RETURNING appointment_id, starts_at, lead_minutes)
SELECT due.* FROM due JOIN claimed
    ON claimed.appointment_id = due.appointment_id AND claimed.starts_at = due.starts_at
   AND claimed.lead_minutes = due.minutes
 ORDER BY due.starts_at, due.appointment_id, due.minutes
""")


def count_due_reminders(query: CountDueReminders, ctx: ReadContext) -> int:
    """How many reminders are due and not yet emitted."""
    if not query.lead_minutes:
        return 0
    return int(ctx.session.scalar(_COUNT_DUE, _params(query.now, query.lead_minutes,
                                                      ctx.principal.tenant_id)) or 0)


def send_due_reminders(cmd: SendDueReminders, uow: UnitOfWork) -> Ack:
    """Claim up to BATCH due reminders and emit one event for each; prune old rows."""
    tenant_id = uow.acting_tenant
    uow.session.execute(delete(AppointmentReminder).where(
        AppointmentReminder.tenant_id == tenant_id,
        AppointmentReminder.starts_at < cmd.now - KEEP_AFTER_START))
    claimed = uow.session.execute(_CLAIM_DUE, {
        **_params(cmd.now, cmd.lead_minutes, tenant_id), "batch": BATCH}).all() \
        if cmd.lead_minutes else []
    for row in claimed:
        uow.emit(_reminder(tenant_id, row))
    return Ack(id=tenant_id, version=1, extra={"reminders": len(claimed)})


def _params(now: datetime, leads: tuple[int, ...], tenant_id: Any) -> dict[str, Any]:
    return {"tenant": tenant_id, "now": now, "leads": sorted(set(leads))}


def _reminder(tenant_id: uuid.UUID, row: Any) -> AppointmentReminderDue:
    return AppointmentReminderDue(
        tenant_id=tenant_id, aggregate_id=row.appointment_id,
        appointment_id=row.appointment_id, patient_id=row.patient_id,
        provider_id=row.provider_id, start=row.starts_at, lead_minutes=row.minutes)


COMMAND_HANDLERS = {SendDueReminders: send_due_reminders}
QUERY_HANDLERS: dict[type[Query], Any] = {CountDueReminders: count_due_reminders}
