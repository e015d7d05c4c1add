"""HTTP bodies of the patient domain."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from vitalbridge.http import text_rules
from vitalbridge.http.pagination import PageArgs, PageSchema
from vitalbridge.http.render import UtcDateTime
from vitalbridge.http.schemas import AckSchema
from vitalbridge.http.validators import (
    CalendarDate,
    Email,
    InputSchema,
    PhoneNumber,
    Text,
    needs_something_visible,
    not_blank,
)
from vitalbridge.patient.countries import ISO_3166_ALPHA2
from vitalbridge.patient.messages import SEXES, Address
from vitalbridge.patient.mrn import SUPPLIED, normalise_mrn

EARLIEST_BIRTH_DATE = date(1900, 1, 1)
# A birth "today" is today somewhere: accept dates up to the first time zone's today.
LATEST_OFFSET = timedelta(hours=14)


A_LETTER = (text_rules.LETTER, "Must contain a letter.")
_TIDY_TEXT = re.compile(text_rules.tidy_chars() + "*")


def _printable(value: str) -> None:
    # Stricter than the shared text rule: no format characters (zero-width, bidi) in a
    # name or an address, where they make two that look alike differ.
    if not _TIDY_TEXT.fullmatch(value):
        raise ValidationError("Must not contain control or format characters.")


def _plausible_birth_date(value: date) -> None:
    latest = (datetime.now(UTC) + LATEST_OFFSET).date()
    if value < EARLIEST_BIRTH_DATE:
        raise ValidationError("Must be on or after 1900-01-01.")
    if value > latest:
        raise ValidationError("Must not be in the future.")


def _country(value: str) -> None:
    if value not in ISO_3166_ALPHA2:
        raise ValidationError("Must be an ISO 3166-1 alpha-2 country code, e.g. 'US'.")


def _supplied_mrn(value: str) -> None:
    if not SUPPLIED.match(value):
        raise ValidationError("1 to 32 letters, digits and inner hyphens.")


SEARCHABLE = (text_rules.LETTER_OR_DIGIT, "Must contain a letter or digit.")  # search_words


def _not_changeable(value: Any) -> None:
    raise ValidationError("The MRN is assigned once and cannot be changed.")


class TidyString(Text):
    """A string trimmed, with inner runs of whitespace collapsed to one space."""

    def tidy(self, text: str) -> str:
        """Collapse whitespace (a pasted tab or newline becomes one space)."""
        return " ".join(text.split())

    def pattern(self) -> str:
        """Any whitespace is allowed (it is collapsed); no control or format character."""
        return text_rules.tidy(required=needs_something_visible(self),
                               must_hold=self.must_hold[0] if self.must_hold else None)


class Upper(Text):
    """A code compared case-insensitively, loaded trimmed and upper-case."""

    def tidy(self, text: str) -> str:
        """Trim and upper-case."""
        return normalise_mrn(text)


# A supplied MRN as sent: mrn.SUPPLIED, in either case, with whitespace around it.
_SUPPLIED_MRN_AS_SENT = r"^\s*[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?\s*$"


def _name(**options: Any) -> TidyString:
    return TidyString(validate=[not_blank, validate.Length(max=100), _printable],
                      must_hold=A_LETTER,
                      metadata={"description": "1 to 100 characters, trimmed."}, **options)


class AddressBody(InputSchema):
    """A postal address (replaced as a whole on update)."""

    line = TidyString(required=True, validate=[not_blank, validate.Length(max=200), _printable])
    city = TidyString(required=True, validate=[not_blank, validate.Length(max=100), _printable])
    postal_code = TidyString(load_default=None, allow_none=True,
                       validate=[not_blank, validate.Length(max=20), _printable])
    country = Upper(required=True, validate=_country, metadata={
        "description": "ISO 3166-1 alpha-2, in either case", "example": "US",
        "enum": sorted(ISO_3166_ALPHA2)})

    @post_load
    def make_address(self, data: dict[str, Any], **kwargs: Any) -> Address:
        """Load as the Address message type."""
        return Address(**data)


class RegisterPatientBody(InputSchema):
    """POST /patients."""

    given_name = _name(required=True)
    family_name = _name(required=True)
    birth_date = CalendarDate(required=True, validate=_plausible_birth_date)
    sex = Text(load_default="unknown", validate=validate.OneOf(SEXES))
    email = Email(load_default=None, allow_none=True, validate=validate.Length(max=254))
    phone = PhoneNumber(load_default=None, allow_none=True,
                        metadata={"description": "Stored as E.164.", "example": "+12025550143"})
    address = fields.Nested(AddressBody, load_default=None, allow_none=True)
    mrn = Upper(load_default=None, allow_none=True, validate=_supplied_mrn, metadata={
        "description": "The clinic's own record number; generated (8 symbols) if left out.",
        "pattern": _SUPPLIED_MRN_AS_SENT})
    confirm_new = fields.Boolean(load_default=False, metadata={
        "description": "Register even though a patient with the same name and birth "
                       "date exists (otherwise 409 possible-duplicate)."})


class UpdatePatientBody(InputSchema):
    """PATCH /patients/{id}: only the fields sent change; null clears an optional one."""

    # Something to change, and never the MRN.
    JSON_SCHEMA_RULES = {"minProperties": 1, "not": {"required": ["mrn"]}}

    given_name = _name()
    family_name = _name()
    birth_date = CalendarDate(validate=_plausible_birth_date)
    sex = Text(validate=validate.OneOf(SEXES))
    email = Email(allow_none=True, validate=validate.Length(max=254))
    phone = PhoneNumber(allow_none=True)
    address = fields.Nested(AddressBody, allow_none=True)
    mrn = fields.Raw(validate=_not_changeable, metadata={"description": "Cannot be changed."})

    @validates_schema
    def something_to_change(self, data: dict[str, Any], **kwargs: Any) -> None:
        """An empty PATCH is most likely a client bug."""
        if not data:
            raise ValidationError("Send at least one field to change.")


class PatientSearchArgs(PageArgs):
    """GET /patients query arguments (all optional, combined with AND)."""

    q = Text(load_default=None, validate=validate.Length(max=100), must_hold=SEARCHABLE,
             metadata={"description": "Words of the name, any order."})
    birth_date = CalendarDate(load_default=None)
    phone = PhoneNumber(load_default=None, metadata={"description": "Any format; compared "
                                                                    "as E.164."})
    mrn = Text(load_default=None, validate=validate.Length(max=32),
               metadata={"description": "Exact, case-insensitive."})


class PatientRegisteredSchema(AckSchema):
    """The acknowledgement of a registration, with the patient's MRN."""

    mrn = fields.String(required=True)


class AddressSchema(Schema):
    """A postal address."""

    line = fields.String()
    city = fields.String()
    postal_code = fields.String(allow_none=True)
    country = fields.String()


class PatientSchema(Schema):
    """A patient."""

    id = fields.UUID()
    mrn = fields.String()
    given_name = fields.String()
    family_name = fields.String()
    birth_date = fields.Date()
    sex = fields.String()
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    address = fields.Nested(AddressSchema, allow_none=True)
    version = fields.Integer()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class PatientHitSchema(PatientSchema):
    """A patient in a list; ``score`` (higher is better) only when searching with q."""

    score = fields.Float(allow_none=True)


class PatientPageSchema(PageSchema):
    """A page of patients."""

    items = fields.List(fields.Nested(PatientHitSchema))
