"""HTTP bodies of the appointment domain."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from vitalbridge.appointment.messages import AppointmentStatus
from vitalbridge.http.pagination import PageArgs, PageSchema
from vitalbridge.http.render import UtcDateTime
from vitalbridge.http.validators import InputSchema, Text, Timestamp, not_blank

MIN_MINUTES, MAX_MINUTES, DEFAULT_MINUTES = 5, 480, 30


class PeriodBody(InputSchema):
    """A ``start`` with ``end`` or ``duration`` (minutes), not both: 5 minutes to 8 hours.

    Shared by booking and rescheduling; each says what happens when neither is sent.
    """

    JSON_SCHEMA_RULES = {"not": {"required": ["end", "duration"]}}  # not both

    start = Timestamp(required=True, metadata={"example": "2027-03-15T09:30:00-04:00"})
    end = Timestamp(metadata={"description": "After start; at most 8 hours later."})
    duration = fields.Integer(validate=validate.Range(min=MIN_MINUTES, max=MAX_MINUTES),
                              metadata={"description": "Minutes, 5 to 480."})

    @validates_schema
    def _end_or_duration(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "end" in data and "duration" in data:
            raise ValidationError("Send end or duration, not both.", field_name="duration")
        if "start" not in data or "end" not in data:
            return
        length = data["end"] - data["start"]
        if not timedelta(minutes=MIN_MINUTES) <= length <= timedelta(minutes=MAX_MINUTES):
            raise ValidationError("Must be 5 minutes to 8 hours after start.", field_name="end")


class AppointmentBody(PeriodBody):
    """POST /appointments: ``end`` or ``duration`` (minutes), not both; 30 minutes by default."""

    provider_id = fields.UUID(required=True)
    patient_id = fields.UUID(required=True)
    reason = Text(load_default=None, multiline=True,
                  validate=[not_blank, validate.Length(max=500)])


class RescheduleBody(PeriodBody):
    """POST /appointments/{id}/reschedule: with neither end nor duration, the length stays."""


class CancelBody(InputSchema):
    """POST /appointments/{id}/cancel."""

    reason = Text(required=True, multiline=True, validate=[not_blank, validate.Length(max=500)])


class AppointmentListArgs(PageArgs):
    """GET /appointments filters; ``from``/``to`` keep appointments overlapping the window."""

    provider_id = fields.UUID(load_default=None)
    patient_id = fields.UUID(load_default=None)
    status = Text(load_default=None,
                  validate=validate.OneOf([s.value for s in AppointmentStatus]))
    start = Timestamp(load_default=None, data_key="from")
    end = Timestamp(load_default=None, data_key="to")

    @validates_schema
    def _to_after_from(self, data: dict[str, Any], **kwargs: Any) -> None:
        # An empty window is a mistake, not a question: say so, as schedule and availability do.
        start, end = data.get("start"), data.get("end")
        if start is not None and end is not None and end <= start:
            raise ValidationError("Must be after from.", field_name="to")


class AppointmentSchema(Schema):
    """An appointment, with the provider's and patient's display names."""

    id = fields.UUID()
    provider_id = fields.UUID()
    provider_name = fields.String(allow_none=True)
    patient_id = fields.UUID()
    patient_name = fields.String(allow_none=True)
    start = UtcDateTime()
    end = UtcDateTime()
    status = fields.String(metadata={
        "description": "booked, checked_in, completed, cancelled, no_show"})
    reason = fields.String(allow_none=True)
    cancel_reason = fields.String(allow_none=True)
    created_by_key_id = fields.UUID(allow_none=True)
    updated_by_key_id = fields.UUID(allow_none=True)
    version = fields.Integer()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class AppointmentPageSchema(PageSchema):
    """A page of appointments."""

    items = fields.List(fields.Nested(AppointmentSchema))
