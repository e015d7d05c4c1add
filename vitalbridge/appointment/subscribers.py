"""The appointment domain's reactions to other domains' events (run by the outbox relay).

Each cancellation goes through the same lifecycle step as a cancel request, so it emits
its own ``appointment.cancelled``; the inbox makes a redelivered event a no-op.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert

from vitalbridge.appointment.handlers import change_status, lock_provider_calendar
from vitalbridge.appointment.messages import (
    PROVIDER_UNAVAILABLE,
    AppointmentStatus,
    CancelAppointment,
)
from vitalbridge.appointment.model import Appointment, ProviderLeave
from vitalbridge.messaging.subscribers import Subscriber
from vitalbridge.messaging.uow import UnitOfWork
from vitalbridge.provider.messages import ProviderDeactivated
from vitalbridge.schedule.messages import LeaveApproved, LeaveCancelled, LeaveStatus


def cancel_booked_during_leave(envelope: dict[str, Any], uow: UnitOfWork) -> None:
    """Approved leave: keep it (bookings check it), and cancel the provider's booked
    appointments that overlap it. Under the provider's calendar lock, so that a booking
    in flight either sees the leave or is seen here."""
    data = envelope["data"]
    provider_id = uuid.UUID(data["provider_id"])
    start, end = _instant(data["start"]), _instant(data["end"])
    lock_provider_calendar(uow, provider_id)
    uow.session.execute(insert(ProviderLeave).values(
        tenant_id=uow.acting_tenant, leave_id=uuid.UUID(envelope["aggregate_id"]),
        provider_id=provider_id, starts_at=start, ends_at=end).on_conflict_do_nothing())
    _cancel_booked(uow, provider_id, Appointment.starts_at < end, Appointment.ends_at > start)


def forget_withdrawn_leave(envelope: dict[str, Any], uow: UnitOfWork) -> None:
    """Approved leave withdrawn: its time can be booked again."""
    if envelope["data"].get("was") != LeaveStatus.APPROVED.value:
        return
    lock_provider_calendar(uow, uuid.UUID(envelope["data"]["provider_id"]))
    uow.session.execute(delete(ProviderLeave).where(
        ProviderLeave.tenant_id == uow.acting_tenant,
        ProviderLeave.leave_id == uuid.UUID(envelope["aggregate_id"])))


def cancel_future_of_deactivated_provider(envelope: dict[str, Any], uow: UnitOfWork) -> None:
    """A deactivated provider sees no one again: cancel its booked future appointments."""
    _cancel_booked(uow, uuid.UUID(envelope["aggregate_id"]),
                   Appointment.starts_at > datetime.now(UTC))


def _cancel_booked(uow: UnitOfWork, provider_id: uuid.UUID, *when: Any) -> None:
    ids = uow.session.scalars(select(Appointment.id).where(
        Appointment.tenant_id == uow.acting_tenant, Appointment.provider_id == provider_id,
        Appointment.status == AppointmentStatus.BOOKED.value, *when)).all()
    for appointment_id in ids:
        change_status(CancelAppointment(appointment_id=appointment_id,
                                        reason=PROVIDER_UNAVAILABLE), uow)


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


SUBSCRIBERS = [
    Subscriber(name="appointment.cancel_during_leave", event_type=LeaveApproved.type,
               react=cancel_booked_during_leave),
    Subscriber(name="appointment.forget_withdrawn_leave", event_type=LeaveCancelled.type,
               react=forget_withdrawn_leave),
    Subscriber(name="appointment.cancel_for_deactivated_provider",
               event_type=ProviderDeactivated.type, react=cancel_future_of_deactivated_provider),
]
