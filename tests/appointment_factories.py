"""factory-boy factories of the appointment domain: built through the real command bus.

The factory states the schedule facts itself (an active provider working over the whole
slot, no leave): it makes appointments to act on, the HTTP tests cover the rules.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import factory
from sqlalchemy import Engine, text

from tests.factories import dispatch_as_system
from vitalbridge.appointment.messages import CreateAppointment


def next_monday(weeks_ahead: int = 1) -> datetime:
    """Midnight (naive) of a Monday at least ``weeks_ahead`` weeks from today."""
    today = datetime.now().replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=(7 - today.weekday()) % 7 + 7 * weeks_ahead)


@dataclass(frozen=True)
class AppointmentHandle:
    """A booked appointment: its id and version."""

    id: uuid.UUID
    version: int


class AppointmentFactory(factory.Factory):
    """A booked appointment; pass ``tenant_id``, ``provider_id``, ``patient_id``, ``start``."""

    class Meta:
        model = CreateAppointment

    end = factory.LazyAttribute(lambda o: o.start + timedelta(minutes=30))
    reason = "check-up"
    provider_active = True
    working = factory.LazyAttribute(lambda o: ((o.start, o.end),))
    leave = ()

    @classmethod
    def _create(cls, model_class, *args, tenant_id, **kwargs):  # type: ignore[no-untyped-def]
        ack = dispatch_as_system(model_class(**kwargs), tenant_id)
        return AppointmentHandle(id=ack.id, version=ack.version)


def move_to(owner_engine: Engine, appointment_id: uuid.UUID, start: datetime,
            minutes: int) -> None:
    """Put an appointment at ``start`` with an owner UPDATE, past the booking rules.

    A past appointment cannot be booked (the in-the-past rule, through the API and the
    factory alike): tests book one in a free future slot, then move it with this.
    """
    with owner_engine.begin() as conn:
        conn.execute(text("UPDATE appointments SET starts_at = :start, ends_at = :end"
                          " WHERE id = :id"),
                     {"start": start, "end": start + timedelta(minutes=minutes),
                      "id": appointment_id})
