"""HTTP shapes of a patient's appointments and visit summary."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from vitalbridge.appointment.messages import AppointmentStatus
from vitalbridge.appointment.schemas import AppointmentSchema
from vitalbridge.http.consistency import MetaSchema
from vitalbridge.http.pagination import PageArgs
from vitalbridge.http.render import UtcDateTime
from vitalbridge.http.validators import Text

UPCOMING, PAST = "upcoming", "past"


class PatientAppointmentArgs(PageArgs):
    """GET /patients/{id}/appointments query arguments."""

    when = Text(load_default=UPCOMING, validate=validate.OneOf([UPCOMING, PAST]),
                metadata={"description": "upcoming (default): ending after now, "
                                         "soonest first; past: ended, latest first."})
    status = Text(load_default=None,
                  validate=validate.OneOf([s.value for s in AppointmentStatus]))


class PatientAddressSchema(Schema):
    """A postal address."""

    line = fields.String()
    city = fields.String()
    postal_code = fields.String(allow_none=True)
    country = fields.String()


class DemographicsSchema(Schema):
    """The patient as the patient domain answers it.

    It mirrors patient/schemas.py's output on purpose: a domain sees another only through
    its messages.py (import-linter), and PatientView is what those messages carry.
    """

    id = fields.UUID()
    mrn = fields.String()
    given_name = fields.String()
    family_name = fields.String()
    birth_date = fields.Date()
    sex = fields.String()
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    address = fields.Nested(PatientAddressSchema, allow_none=True)
    version = fields.Integer()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class RecentSchema(Schema):
    """Missed appointments that started in ``[since, as_of)``."""

    since = UtcDateTime()
    cancellations = fields.Integer()
    no_shows = fields.Integer()


class PatientSummarySchema(Schema):
    """A patient's demographics with their visits around ``as_of``."""

    patient = fields.Nested(DemographicsSchema)
    age = fields.Integer(metadata={"description": "Whole years on as_of's date (UTC)."})
    next_appointment = fields.Nested(AppointmentSchema, allow_none=True)
    upcoming_count = fields.Integer(metadata={
        "description": "Booked or checked-in appointments ending after as_of."})
    last_visit = fields.Nested(AppointmentSchema, allow_none=True)
    recent = fields.Nested(RecentSchema)
    as_of = UtcDateTime()
    meta = fields.Nested(MetaSchema)
