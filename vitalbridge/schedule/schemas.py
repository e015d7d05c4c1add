"""HTTP bodies of the schedule domain."""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from vitalbridge.http.pagination import PageArgs, PageSchema
from vitalbridge.http.render import UtcDateTime
from vitalbridge.http.validators import iana_timezone, not_blank
from vitalbridge.schedule.messages import LeaveStatus, parse_clock

MAX_WINDOW = timedelta(days=31)
_HH_MM = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$")


class LocalTime(fields.Field):
    """A wall-clock time ``HH:MM`` (24-hour) in the provider's zone; ``24:00`` ends the day."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> time:
        if not isinstance(value, str) or not _HH_MM.match(value):
            raise ValidationError("Not a time of day; write HH:MM, e.g. '09:00' (or '24:00').")
        return parse_clock(value)

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> Any:
        return value


def _clock(**kwargs: Any) -> LocalTime:
    return LocalTime(required=True, metadata={"example": "09:00", "type": "string",
                                              "pattern": _HH_MM.pattern}, **kwargs)


class IntervalBody(Schema):
    """A local interval ``[start, end)`` of one day."""

    start = _clock()
    end = _clock()


class RuleBody(IntervalBody):
    """A weekly rule: an interval on a weekday (Monday is 0)."""

    weekday = fields.Integer(required=True, validate=validate.Range(min=0, max=6),
                             metadata={"description": "0 = Monday ... 6 = Sunday."})


class WorkingHoursBody(Schema):
    """PUT /providers/{id}/working-hours: the complete weekly rules (they replace all)."""

    timezone = fields.String(load_default=None, validate=iana_timezone, metadata={
        "description": "IANA zone of the times; the provider's when omitted."})
    effective_from = fields.Date(load_default=None, metadata={
        "description": "First local date the rules apply; always when omitted."})
    rules = fields.List(fields.Nested(RuleBody), required=True, metadata={
        "description": "Several intervals a day are allowed (a lunch break is two)."})


class OverrideBody(Schema):
    """PUT /providers/{id}/overrides/{date}: either ``intervals`` or ``closed: true``."""

    intervals = fields.List(fields.Nested(IntervalBody), validate=validate.Length(min=1))
    closed = fields.Boolean(validate=validate.Equal(True, error="Only true is accepted; "
                                                    "DELETE the override to reopen the day."))

    @validates_schema
    def _exactly_one(self, data: dict[str, Any], **kwargs: Any) -> None:
        if ("intervals" in data) == ("closed" in data):
            raise ValidationError("Send either intervals or closed: true, not both or neither.")


class LeaveRequestBody(Schema):
    """POST /providers/{id}/leave-requests."""

    start = fields.AwareDateTime(required=True, metadata={"example": "2027-03-14T09:00:00-04:00"})
    end = fields.AwareDateTime(required=True, metadata={"description": "After start."})
    reason = fields.String(required=True, validate=[not_blank, validate.Length(max=500)])

    @validates_schema
    def _end_after_start(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "start" in data and "end" in data and data["end"] <= data["start"]:
            raise ValidationError("Must be after start.", field_name="end")


class LeaveListArgs(PageArgs):
    """GET /leave-requests filters."""

    provider_id = fields.UUID(load_default=None)
    status = fields.String(load_default=None,
                           validate=validate.OneOf([s.value for s in LeaveStatus]))


class ScheduleArgs(Schema):
    """GET /providers/{id}/schedule: a window of at most 31 days."""

    start = fields.AwareDateTime(required=True, data_key="from")
    end = fields.AwareDateTime(required=True, data_key="to")

    @validates_schema
    def _window(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "start" not in data or "end" not in data:
            return
        if data["end"] <= data["start"]:
            raise ValidationError("Must be after from.", field_name="to")
        if data["end"] - data["start"] > MAX_WINDOW:
            raise ValidationError("The window may span at most 31 days.", field_name="to")


class LocalIntervalSchema(Schema):
    """A local interval."""

    start = fields.String()
    end = fields.String()


class RuleSchema(LocalIntervalSchema):
    """A weekly rule."""

    weekday = fields.Integer()


class WorkingHoursSchema(Schema):
    """A provider's weekly working hours."""

    provider_id = fields.UUID()
    timezone = fields.String()
    effective_from = fields.Date(allow_none=True)
    rules = fields.List(fields.Nested(RuleSchema))
    version = fields.Integer()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class LeaveRequestSchema(Schema):
    """A leave request."""

    id = fields.UUID()
    provider_id = fields.UUID()
    start = UtcDateTime()
    end = UtcDateTime()
    reason = fields.String()
    status = fields.String(metadata={"description": "pending, approved, rejected, cancelled"})
    requested_by_key_id = fields.UUID(allow_none=True)
    decided_by_key_id = fields.UUID(allow_none=True)
    version = fields.Integer()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class LeavePageSchema(PageSchema):
    """A page of leave requests."""

    items = fields.List(fields.Nested(LeaveRequestSchema))


class ScheduleItemSchema(Schema):
    """One stretch of time: ``working`` or approved ``leave``."""

    kind = fields.String(metadata={"description": "working or leave"})
    start = UtcDateTime()
    end = UtcDateTime()
    local_start = fields.DateTime(metadata={"description": "start with the zone's offset"})
    local_end = fields.DateTime()
    leave_request_id = fields.UUID(allow_none=True)


class ScheduleSchema(Schema):
    """A provider's schedule over a window."""

    provider_id = fields.UUID()
    timezone = fields.String()
    start = UtcDateTime(data_key="from")
    end = UtcDateTime(data_key="to")
    items = fields.List(fields.Nested(ScheduleItemSchema))
