"""HTTP bodies of the schedule domain."""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from vitalbridge.http.pagination import PageArgs, PageSchema
from vitalbridge.http.render import LocalDateTime, UtcDateTime, utc_list
from vitalbridge.http.request_limits import MAX_REPEATED_IDS
from vitalbridge.http.validators import (
    CalendarDate,
    InputSchema,
    QueryArgs,
    Text,
    Timestamp,
    TimeZoneName,
    Trimmed,
    not_blank,
)
from vitalbridge.schedule.messages import LeaveStatus, parse_clock

MAX_WINDOW = timedelta(days=31)
MAX_PROVIDERS = MAX_REPEATED_IDS
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


class IntervalBody(InputSchema):
    """A local interval ``[start, end)`` of one day."""

    start = _clock()
    end = _clock()


class RuleBody(IntervalBody):
    """A weekly rule: an interval on a weekday (Monday is 0)."""

    weekday = fields.Integer(required=True, validate=validate.Range(min=0, max=6),
                             metadata={"description": "0 = Monday ... 6 = Sunday."})


class WorkingHoursBody(InputSchema):
    """PUT /providers/{id}/working-hours: the complete weekly rules from a date on."""

    timezone = TimeZoneName(load_default=None, metadata={
        "description": "IANA zone of the times; the provider's when omitted."})
    effective_from = CalendarDate(load_default=None, metadata={
        "description": "First local date the rules apply; they replace the hours set from "
                       "that date on, earlier hours keep their dates. When omitted: today "
                       "(in `timezone`), or every date when the provider had no hours."})
    rules = fields.List(fields.Nested(RuleBody), required=True, metadata={
        "description": "Several intervals a day are allowed (a lunch break is two)."})


class OverrideBody(InputSchema):
    """PUT /providers/{id}/overrides/{date}: either ``intervals`` or ``closed: true``."""

    JSON_SCHEMA_RULES = {"oneOf": [{"required": ["intervals"]}, {"required": ["closed"]}]}

    intervals = fields.List(fields.Nested(IntervalBody), validate=validate.Length(min=1))
    closed = fields.Boolean(validate=validate.Equal(True, error="Only true is accepted; "
                                                    "DELETE the override to reopen the day."))

    @validates_schema
    def _exactly_one(self, data: dict[str, Any], **kwargs: Any) -> None:
        if ("intervals" in data) == ("closed" in data):
            raise ValidationError("Send either intervals or closed: true, not both or neither.")


class LeaveRequestBody(InputSchema):
    """POST /providers/{id}/leave-requests."""

    start = Timestamp(required=True, metadata={"example": "2027-03-14T09:00:00-04:00"})
    end = Timestamp(required=True, metadata={"description": "After start."})
    reason = Text(required=True, multiline=True, validate=[not_blank, validate.Length(max=500)])

    @validates_schema
    def _end_after_start(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "start" in data and "end" in data and data["end"] <= data["start"]:
            raise ValidationError("Must be after start.", field_name="end")


class LeaveListArgs(PageArgs):
    """GET /leave-requests filters."""

    provider_id = fields.UUID(load_default=None)
    status = Text(load_default=None, validate=validate.OneOf([s.value for s in LeaveStatus]))



class _Window(QueryArgs):
    """A ``from``/``to`` window of at most 31 days."""

    start = Timestamp(required=True, data_key="from")
    end = Timestamp(required=True, data_key="to")

    @validates_schema
    def _window(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "start" not in data or "end" not in data:
            return
        if data["end"] <= data["start"]:
            raise ValidationError("Must be after from.", field_name="to")
        if data["end"] - data["start"] > MAX_WINDOW:
            raise ValidationError("The window may span at most 31 days.", field_name="to")


def _divides_or_whole_hours(minutes: int) -> None:
    # The grid is aligned to the local hour: a step must tile the hour (or be whole hours).
    if minutes > 0 and 60 % minutes and minutes % 60:  # Range reports the others
        raise ValidationError("Must divide an hour (5, 10, 15, 20, 30) or be whole hours.")


class ScheduleArgs(_Window):
    """GET /providers/{id}/schedule: a window of at most 31 days."""


class AvailabilityArgs(_Window):
    """GET /availability: the providers (``provider_id`` repeated, or a ``specialty``)."""

    provider_ids = fields.List(fields.UUID(), data_key="provider_id", load_default=list,
                               validate=validate.Length(max=MAX_PROVIDERS), metadata={
                                   "description": "Repeat for several providers."})
    # Trimmed and capped like GET /providers?specialty= (a specialty is 1 to 100 characters).
    specialty = Trimmed(load_default=None, validate=[not_blank, validate.Length(max=100)],
                        metadata={"description": "All active providers of this specialty "
                                                 "(case-insensitive)."})
    duration = fields.Integer(load_default=30, validate=validate.Range(min=5, max=480),
                              metadata={"description": "Minutes, 5 to 480 (default 30)."})
    step = fields.Integer(load_default=15, validate=[validate.Range(min=5, max=240),
                                                     _divides_or_whole_hours],
                          metadata={"description": "Minutes between candidate starts, "
                                                   "aligned to the local hour (default 15).",
                                    "enum": [5, 10, 15, 20, 30, 60, 120, 180, 240]})

    @validates_schema
    def _who(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data.get("provider_ids") and not data.get("specialty"):
            raise ValidationError("Give provider_id (repeatable) or specialty.",
                                  field_name="provider_id")


class ProviderSlotsSchema(Schema):
    """One provider's free start times."""

    provider_id = fields.UUID()
    timezone = fields.String(metadata={"description": "The provider's IANA zone."})
    slots = utc_list("slots", description="Free start times in UTC, sorted; each fits "
                                          "`duration` minutes.")


class AvailabilitySchema(Schema):
    """Free slots per provider over a window."""

    start = UtcDateTime(data_key="from")
    end = UtcDateTime(data_key="to")
    duration = fields.Function(lambda a: a.duration // timedelta(minutes=1),
                               metadata={"type": "integer", "description": "Minutes."})
    step = fields.Function(lambda a: a.step // timedelta(minutes=1),
                           metadata={"type": "integer", "description": "Minutes."})
    not_before = UtcDateTime(metadata={
        "description": "No slot starts earlier: now plus the clinic's minimum notice."})
    providers = fields.List(fields.Nested(ProviderSlotsSchema))


class LocalIntervalSchema(Schema):
    """A local interval."""

    start = fields.String()
    end = fields.String()


class RuleSchema(LocalIntervalSchema):
    """A weekly rule."""

    weekday = fields.Integer()


class WorkingHoursVersionSchema(Schema):
    """Weekly rules governing the local dates from `effective_from` until the next ones."""

    effective_from = fields.Date(allow_none=True, metadata={
        "description": "First local date they govern; null: every date before the next."})
    timezone = fields.String()
    rules = fields.List(fields.Nested(RuleSchema))


class WorkingHoursSchema(WorkingHoursVersionSchema):
    """A provider's weekly working hours in force today, and those planned after them.

    When every version starts after today, the first one is answered (and its
    `effective_from` is after today).
    """

    provider_id = fields.UUID()
    version = fields.Integer()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    upcoming = fields.List(fields.Nested(WorkingHoursVersionSchema), metadata={
        "description": "Versions starting after today, in date order."})


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
    """One stretch of time: ``working``, approved ``leave`` or an ``appointment``."""

    kind = fields.String(metadata={"description": "working, leave or appointment"})
    start = UtcDateTime()
    end = UtcDateTime()
    local_start = LocalDateTime(metadata={"description": "start with the zone's offset"})
    local_end = LocalDateTime()
    leave_request_id = fields.UUID(allow_none=True)
    appointment_id = fields.UUID(allow_none=True)
    status = fields.String(allow_none=True, metadata={
        "description": "An appointment's status (booked, checked_in, completed)."})


class ScheduleSchema(Schema):
    """A provider's schedule over a window."""

    provider_id = fields.UUID()
    timezone = fields.String()
    start = UtcDateTime(data_key="from")
    end = UtcDateTime(data_key="to")
    items = fields.List(fields.Nested(ScheduleItemSchema))
