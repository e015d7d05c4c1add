"""The reconciliation module's public face: the checks, what they find, its command and
event."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import ClassVar

from vitalbridge.messaging.messages import Command, Event

# The cross-domain invariants the event reactions keep, and the relay's health. Each
# read model is checked too, as "read_model.<name>".
LEAVE_OVERLAP = "appointment_in_approved_leave"
DEACTIVATED_PROVIDER_APPOINTMENT = "future_appointment_of_deactivated_provider"
DEACTIVATED_PROVIDER_KEY = "active_key_of_deactivated_provider"
STUCK_DELIVERY = "stuck_delivery"
UNDELIVERED_EVENT = "undelivered_event"
INVARIANT_CHECKS = (LEAVE_OVERLAP, DEACTIVATED_PROVIDER_APPOINTMENT, DEACTIVATED_PROVIDER_KEY,
                    STUCK_DELIVERY, UNDELIVERED_EVENT)
READ_MODEL_CHECK_PREFIX = "read_model."


@dataclass(frozen=True)
class Discrepancy:
    """One thing found wrong: which check, about what (ids only, never PHI), and how."""

    check: str
    subject_type: str
    subject_id: str
    detail: str


@dataclass(frozen=True, kw_only=True)
class RecordDiscrepancies(Command):
    """Record a reconciliation run's findings in the acting tenant.

    A discrepancy not open before is stored and announced once (DiscrepancyFound); one
    still open is left as it is (no second event). The open discrepancies of the
    ``complete_checks`` (those that ran in full, not on a sample) that were not found
    this time are closed: should they come back, they are announced again.
    """

    found: tuple[Discrepancy, ...]
    complete_checks: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class DiscrepancyFound(Event):
    """Reconciliation found something the event reactions should have prevented."""

    type: ClassVar[str] = "reconciliation.discrepancy_found"
    aggregate_type: ClassVar[str] = "reconciliation"

    check: str
    subject_type: str
    subject_id: str
    detail: str


@dataclass(frozen=True)
class RecordedRun:
    """What RecordDiscrepancies did (its acknowledgement's extras)."""

    new: int
    still_open: int
    resolved: int

    @classmethod
    def of(cls, extra: dict[str, int]) -> RecordedRun:
        """Read it back from an acknowledgement."""
        return cls(new=extra["new"], still_open=extra["still_open"], resolved=extra["resolved"])


def discrepancy_id() -> uuid.UUID:
    """A new discrepancy's id (the aggregate its event names)."""
    return uuid.uuid4()
