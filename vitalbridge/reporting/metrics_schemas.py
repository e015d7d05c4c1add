"""HTTP arguments and answer of GET /reports/metrics."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate, validates_schema

from vitalbridge.http.render import UtcDateTime
from vitalbridge.http.validators import CalendarDate, QueryArgs, Text
from vitalbridge.reporting.metrics import GRANULARITIES
from vitalbridge.reporting.schemas import check_date_range

MAX_SPAN_DAYS = 731  # two years of weeks or months in one answer


class MetricsArgs(QueryArgs):
    """Which periods: their granularity, the dates they start between, a specialty."""

    granularity = Text(required=True, validate=validate.OneOf(GRANULARITIES), metadata={
        "description": "week (Monday to Sunday) or month."})
    first = CalendarDate(required=True, data_key="from", metadata={
        "description": "Periods starting on or after this local date (YYYY-MM-DD)."})
    last = CalendarDate(required=True, data_key="to", metadata={
        "description": "Periods starting on or before this date (at most 731 days on)."})
    specialty = Text(load_default=None, validate=validate.Length(min=1, max=100), metadata={
        "description": "One specialty's figures (case-insensitive); the whole clinic's "
                       "when omitted."})

    @validates_schema
    def _span(self, data: dict[str, Any], **kwargs: Any) -> None:
        check_date_range(data, MAX_SPAN_DAYS, f"At most {MAX_SPAN_DAYS} days after from.")


def _rate(description: str) -> fields.Float:
    return fields.Float(allow_none=True, metadata={
        "description": description + " To 3 places; null when nothing to divide by."})


class PeriodMetricsSchema(Schema):
    """One period's figures (see the operation's description)."""

    period_start = fields.Date()
    period_end = fields.Date(metadata={"description": "The period's last date."})
    specialty = fields.String(allow_none=True, metadata={
        "description": "null: the whole clinic."})
    appointments = fields.Integer()
    cancellations = fields.Integer()
    late_cancellations = fields.Integer()
    no_shows = fields.Integer()
    working_minutes = fields.Integer()
    booked_minutes = fields.Integer()
    utilization = _rate("booked_minutes / working_minutes.")
    cancellation_rate = _rate("cancellations / appointments.")
    late_cancellation_rate = _rate("late_cancellations / appointments.")
    no_show_rate = _rate("no_shows / (appointments - cancellations).")
    median_lead_time_minutes = fields.Float(
        attribute="median_lead_minutes", allow_none=True,
        metadata={"description": "Median minutes from booking to start."})
    patients_seen = fields.Integer()
    new_patients = fields.Integer()
    computed_at = UtcDateTime(metadata={"description": "When the job computed the row."})


class MetricsSchema(Schema):
    """The stored figures of the periods asked for, in period order."""

    granularity = fields.String()
    specialty = fields.String(allow_none=True)
    items = fields.List(fields.Nested(PeriodMetricsSchema))
