"""factory-boy factories of the schedule domain: built through the real command bus."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time

import factory

from tests.factories import dispatch_as_system
from vitalbridge.schedule.calendar import WeeklyRule
from vitalbridge.schedule.messages import SetWorkingHours, SubmitLeaveRequest

WEEKDAYS_NINE_TO_FIVE = tuple(WeeklyRule(day, time(9), time(17)) for day in range(5))


@dataclass(frozen=True)
class AckHandle:
    """What a factory made: the id and version the command answered."""

    id: uuid.UUID
    version: int


def _dispatch(command, tenant_id):  # type: ignore[no-untyped-def]
    ack = dispatch_as_system(command, tenant_id)
    return AckHandle(id=ack.id, version=ack.version)


class WorkingHoursFactory(factory.Factory):
    """Weekly rules (Mon-Fri 09:00-17:00 by default); pass ``tenant_id`` and ``provider_id``."""

    class Meta:
        model = SetWorkingHours

    timezone = "America/New_York"
    rules = WEEKDAYS_NINE_TO_FIVE
    effective_from = None

    @classmethod
    def _create(cls, model_class, *args, tenant_id, **kwargs):  # type: ignore[no-untyped-def]
        return _dispatch(model_class(**kwargs), tenant_id)


class LeaveRequestFactory(factory.Factory):
    """A pending leave request; pass ``tenant_id`` and ``provider_id``."""

    class Meta:
        model = SubmitLeaveRequest

    start = datetime(2027, 6, 1, 13, tzinfo=UTC)
    end = datetime(2027, 6, 3, 21, tzinfo=UTC)
    reason = factory.Sequence(lambda n: f"conference {n}")

    @classmethod
    def _create(cls, model_class, *args, tenant_id, **kwargs):  # type: ignore[no-untyped-def]
        return _dispatch(model_class(**kwargs), tenant_id)
