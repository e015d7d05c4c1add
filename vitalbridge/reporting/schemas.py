"""HTTP arguments and answers of the reports."""

from __future__ import annotations

from datetime import date
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from vitalbridge.http.consistency import MetaSchema
from vitalbridge.http.pagination import PageArgs, PageSchema
from vitalbridge.http.request_limits import MAX_REPEATED_IDS
from vitalbridge.http.validators import CalendarDate

MAX_DAYS = 92  # a quarter


class UtilizationArgs(PageArgs):
    """GET /reports/utilization: local dates ``from``..``to`` (inclusive), some providers."""

    first = CalendarDate(required=True, data_key="from", metadata={
        "description": "First local date (YYYY-MM-DD), in each provider's zone."})
    last = CalendarDate(required=True, data_key="to", metadata={
        "description": "Last local date, inclusive: on or after from, at most 92 days."})
    provider_ids = fields.List(fields.UUID(), data_key="provider_id", load_default=list,
                               validate=validate.Length(max=MAX_REPEATED_IDS), metadata={
                                   "description": "Repeat for several (up to 100); "
                                                  "every provider when omitted."})

    @validates_schema
    def _dates(self, data: dict[str, Any], **kwargs: Any) -> None:
        check_date_range(data, MAX_DAYS - 1, f"The report may span at most {MAX_DAYS} days.")


def check_date_range(data: dict[str, Any], most_days_after: int, too_long: str) -> None:
    """``to`` on or after ``from``, and at most ``most_days_after`` days after it (once
    both loaded; a missing or bad one has its own error)."""
    if "first" not in data or "last" not in data:
        return
    if data["last"] < data["first"]:
        raise ValidationError("Must be on or after from.", field_name="to")
    if (data["last"] - data["first"]).days > most_days_after:
        raise ValidationError(too_long, field_name="to")


class UsageSchema(Schema):
    """Minutes and counts (see the operation's description for their definitions)."""

    working_minutes = fields.Integer()
    booked_minutes = fields.Integer()
    appointments = fields.Integer()
    cancellations = fields.Integer()
    no_shows = fields.Integer()
    utilization = fields.Float(allow_none=True, metadata={
        "description": "booked_minutes / working_minutes to 3 places (may exceed 1); "
                       "null when working_minutes is 0."})


class DayUsageSchema(UsageSchema):
    """One local date of one provider."""

    date = fields.Date()


class FlatRecords(fields.List):
    """A list of ``Nested`` flat records, dumped without marshmallow's per-field calls.

    A page of 200 providers over 92 days holds 18,400 days: dumping each field of each
    through its Field object costs more than the SQL. The inner schema still names the
    fields (and documents them); dates become ``YYYY-MM-DD``, other values pass as they are.
    """

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        assert isinstance(self.inner, fields.Nested)
        names = tuple(self.inner.schema.dump_fields)
        return [{name: _plain(getattr(record, name)) for name in names} for record in value]


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


class ProviderUsageSchema(Schema):
    """One provider's days and their sums."""

    provider_id = fields.UUID()
    display_name = fields.String()
    timezone = fields.String(metadata={
        "description": "The IANA zone of its working hours (the provider's when none "
                       "were set): the zone its local dates run in."})
    active = fields.Boolean(metadata={"description": "False once deactivated."})
    days = FlatRecords(fields.Nested(DayUsageSchema), metadata={
        "description": "Every local date from..to, in order."})
    totals = fields.Nested(UsageSchema)


class UtilizationPageSchema(PageSchema):
    """A page of providers' utilization."""

    items = fields.List(fields.Nested(ProviderUsageSchema))
    meta = fields.Nested(MetaSchema)
