"""HTTP bodies of the provider domain."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from vitalbridge.http.pagination import PageArgs, PageSchema
from vitalbridge.http.render import UtcDateTime
from vitalbridge.http.validators import (
    Email,
    InputSchema,
    PhoneNumber,
    TimeZoneName,
    Trimmed,
)

NAME_LENGTH = validate.Length(min=1, max=100)


def _name(**kwargs: Any) -> Trimmed:
    return Trimmed(validate=NAME_LENGTH, metadata={"description": "1 to 100 characters."},
                   **kwargs)


class AddProviderBody(InputSchema):
    """POST /providers. Unknown fields (tenant_id, active, version, id...) are refused."""

    given_name = _name(required=True)
    family_name = _name(required=True)
    specialty = _name(required=True)
    email = Email(load_default=None, allow_none=True, validate=validate.Length(max=254))
    phone = PhoneNumber(load_default=None, allow_none=True,
                        metadata={"description": "Stored in E.164, e.g. +12025550123."})
    timezone = TimeZoneName(load_default=None, allow_none=True, metadata={
        "description": "IANA zone; the tenant's when omitted.", "example": "America/New_York"})


class UpdateProviderBody(InputSchema):
    """PATCH /providers/{id}: only the fields sent change; null clears email or phone."""

    JSON_SCHEMA_RULES = {"minProperties": 1}  # something to change

    given_name = _name()
    family_name = _name()
    specialty = _name()
    email = Email(allow_none=True, validate=validate.Length(max=254))
    phone = PhoneNumber(allow_none=True)
    timezone = TimeZoneName(metadata={"example": "Europe/Paris"})

    @validates_schema(pass_original=True)
    def _not_empty(self, data: dict[str, Any], original: Any, **kwargs: Any) -> None:
        if not original:
            raise ValidationError("Send at least one field to change.")


class ProviderListArgs(PageArgs):
    """GET /providers filters (every one given must match)."""

    specialty = Trimmed(load_default=None, validate=NAME_LENGTH,
                        metadata={"description": "Exact specialty, case-insensitive."})
    q = Trimmed(load_default=None, validate=NAME_LENGTH, metadata={
        "description": "Words found in the name, ignoring case and accents ('jose' finds "
                       "'José')."})
    active = fields.Boolean(load_default=None, metadata={
        "description": "true: active providers only; false: deactivated only; omitted: all."})


class ProviderSchema(Schema):
    """A provider."""

    id = fields.UUID()
    given_name = fields.String()
    family_name = fields.String()
    display_name = fields.String()
    specialty = fields.String()
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    timezone = fields.String()
    active = fields.Boolean()
    status = fields.String(metadata={"description": "active or inactive"})
    version = fields.Integer()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    deactivated_at = UtcDateTime(allow_none=True)


class ProviderPageSchema(PageSchema):
    """A page of providers."""

    items = fields.List(fields.Nested(ProviderSchema))
