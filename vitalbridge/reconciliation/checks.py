"""The cross-domain checks: what the event reactions should have made true, asked of
the owning domains through the query bus, and the relay's health.

Each check yields its discrepancies (ids only, never PHI). The reactions they check:
approved leave cancels the provider's booked appointments inside it; a deactivated
provider's future appointments are cancelled and its keys revoked; every event reaches
every subscriber.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from vitalbridge.appointment.messages import (
    AppointmentsInWindows,
    AppointmentStatus,
    ProviderWindow,
)
from vitalbridge.messaging.bus import QueryBus
from vitalbridge.messaging.delivery_health import StuckDeliveries, UndeliveredEvents
from vitalbridge.messaging.messages import Principal, Query
from vitalbridge.provider.messages import FindProviders
from vitalbridge.reconciliation.messages import (
    DEACTIVATED_PROVIDER_APPOINTMENT,
    DEACTIVATED_PROVIDER_KEY,
    LEAVE_OVERLAP,
    STUCK_DELIVERY,
    UNDELIVERED_EVENT,
    Discrepancy,
)
from vitalbridge.schedule.messages import LeaveStatus, ListLeaveRequests
from vitalbridge.tenant.messages import ListApiKeys

PAGE = 200
PENDING = (AppointmentStatus.BOOKED, AppointmentStatus.CHECKED_IN)
END_OF_CALENDAR = datetime(2200, 1, 1, tzinfo=UTC)  # the latest instant the API accepts


class _Paged(Protocol):
    created_at: datetime
    id: uuid.UUID


P = TypeVar("P", bound=_Paged)


@dataclass(frozen=True)
class Asker:
    """Asks the query bus as the system, inside one tenant (on the primary: a check
    must not mistake a replica's lag for a discrepancy)."""

    queries: QueryBus
    tenant_id: uuid.UUID

    def __call__(self, query: Query) -> Any:
        principal = Principal.system(self.tenant_id)
        with self.queries.reading(principal, primary=True):
            return self.queries.ask(query, principal)


@dataclass(frozen=True)
class Thresholds:
    """How long a delivery may retry, and an event wait, before it is a discrepancy."""

    stuck_delivery: timedelta
    undelivered_event: timedelta


def pages(fetch: Callable[[tuple[datetime, uuid.UUID] | None], Sequence[P]],
          ) -> Iterator[Sequence[P]]:
    """Walk a (created_at, id) listing that answers one row more than a page."""
    after = None
    while True:
        page = fetch(after)
        yield page[:PAGE]
        if len(page) <= PAGE:
            return
        last = page[PAGE - 1]
        after = (last.created_at, last.id)


def appointments_in_approved_leave(ask: Asker) -> Iterator[Discrepancy]:
    """Booked or checked-in appointments overlapping approved leave."""
    for leaves in pages(lambda after: ask(ListLeaveRequests(
            limit=PAGE, after=after, status=LeaveStatus.APPROVED))):
        windows = tuple(ProviderWindow(leave.provider_id, leave.start, leave.end)
                        for leave in leaves)
        for found in ask(AppointmentsInWindows(windows=windows, statuses=PENDING)):
            leave = next(leave for leave in leaves if _overlaps(leave, found))
            yield Discrepancy(LEAVE_OVERLAP, "appointment", str(found.appointment_id),
                              f"{found.status} inside approved leave {leave.id}")


def _overlaps(leave: Any, appointment: Any) -> bool:
    return bool(leave.provider_id == appointment.provider_id
                and leave.start < appointment.end and appointment.start < leave.end)


def deactivated_provider_leftovers(ask: Asker, now: datetime) -> Iterator[Discrepancy]:
    """Future pending appointments and unrevoked keys of deactivated providers."""
    inactive = {p.id for p in ask(FindProviders()) if not p.active}
    if not inactive:
        return
    windows = tuple(ProviderWindow(p, now, END_OF_CALENDAR) for p in sorted(inactive))
    for found in ask(AppointmentsInWindows(windows=windows, statuses=PENDING)):
        if found.start > now:
            yield Discrepancy(DEACTIVATED_PROVIDER_APPOINTMENT, "appointment",
                              str(found.appointment_id),
                              f"{found.status} with deactivated provider {found.provider_id}")
    for keys in pages(lambda after: ask(ListApiKeys(limit=PAGE, after=after))):
        for key in keys:
            if key.provider_id in inactive and key.revoked_at is None:
                yield Discrepancy(DEACTIVATED_PROVIDER_KEY, "api_key", str(key.id),
                                  f"active key of deactivated provider {key.provider_id}")


def delivery_problems(ask: Asker, limits: Thresholds) -> Iterator[Discrepancy]:
    """Deliveries dead or retrying too long, and events the relay has left waiting."""
    for stuck in ask(StuckDeliveries(older_than=limits.stuck_delivery)):
        state = "dead-lettered" if stuck.dead else "retrying"
        yield Discrepancy(STUCK_DELIVERY, "delivery", f"{stuck.subscriber}:{stuck.event_id}",
                          f"{state} since {stuck.parked_at.isoformat()}")
    for late in ask(UndeliveredEvents(older_than=limits.undelivered_event)):
        yield Discrepancy(UNDELIVERED_EVENT, "event", str(late.event_id),
                          f"undelivered since {late.occurred_at.isoformat()}")
