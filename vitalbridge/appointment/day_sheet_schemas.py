"""HTTP shapes of the day sheet: one local date's appointments with their patients."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from vitalbridge.appointment.messages import AppointmentStatus
from vitalbridge.http.consistency import MetaSchema
from vitalbridge.http.pagination import PageArgs, PageSchema
from vitalbridge.http.render import UtcDateTime
from vitalbridge.http.request_limits import MAX_REPEATED_IDS
from vitalbridge.http.validators import CalendarDate, Text


class DaySheetArgs(PageArgs):
    """GET /day-sheet: a local date, and whose appointments."""

    day = CalendarDate(required=True, data_key="date", metadata={
        "description": "The local date (YYYY-MM-DD), in each provider's time zone."})
    provider_ids = fields.List(fields.UUID(), data_key="provider_id", load_default=list,
                               validate=validate.Length(max=MAX_REPEATED_IDS), metadata={
                                   "description": "Repeat for several (up to 100)."})
    specialty = Text(load_default=None, validate=validate.Length(min=1, max=100), metadata={
        "description": "Providers of this specialty only (case-insensitive)."})
    status = Text(load_default=None,
                  validate=validate.OneOf([s.value for s in AppointmentStatus]))


class DaySheetPatientSchema(Schema):
    """The patient of a line, from the patient summaries (null parts: not in them yet)."""

    id = fields.UUID()
    name = fields.String(allow_none=True)
    mrn = fields.String(allow_none=True)
    birth_date = fields.Date(allow_none=True)
    age = fields.Integer(allow_none=True, metadata={
        "description": "Whole years on the UTC date of meta's answer."})
    last_visit = UtcDateTime(allow_none=True, metadata={
        "description": "Start of the latest completed appointment."})
    cancellations = fields.Integer(metadata={"description": "In the last 12 months."})
    no_shows = fields.Integer(metadata={"description": "In the last 12 months."})


class DaySheetLineSchema(Schema):
    """One appointment of the day."""

    id = fields.UUID()
    start = UtcDateTime()
    end = UtcDateTime()
    status = fields.String()
    reason = fields.String(allow_none=True)
    provider_id = fields.UUID()
    provider_name = fields.String()
    specialty = fields.String()
    timezone = fields.String(metadata={"description": "The provider's zone, which "
                                                      "decides the local date."})
    version = fields.Integer()
    patient = fields.Nested(DaySheetPatientSchema)


class DaySheetPageSchema(PageSchema):
    """A page of the day sheet, in start order, and how fresh it is."""

    date = fields.Date()
    items = fields.List(fields.Nested(DaySheetLineSchema))
    meta = fields.Nested(MetaSchema)
