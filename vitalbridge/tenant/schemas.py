"""HTTP bodies of the tenant domain."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from vitalbridge.http.pagination import PageSchema
from vitalbridge.http.render import UtcDateTime
from vitalbridge.http.schemas import AckSchema
from vitalbridge.http.validators import InputSchema, Text, TimeZoneName, not_blank
from vitalbridge.tenant.messages import (
    KEY_ROLES,
    MAX_LATE_CANCELLATION_HOURS,
    MAX_NOTICE_MINUTES,
    MAX_REMINDER_LEAD,
    MAX_REMINDER_LEADS,
    MIN_REMINDER_LEAD,
)

SLUG = validate.Regexp(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$",
                       error="Lowercase letters, digits and inner hyphens, at most 63.")


class CreateTenantBody(InputSchema):
    """POST /tenants."""

    name = Text(required=True, validate=[not_blank, validate.Length(max=200)])
    slug = Text(required=True, validate=SLUG)
    timezone = TimeZoneName(required=True, metadata={"example": "America/New_York"})


class CreateApiKeyBody(InputSchema):
    """POST /api-keys."""

    name = Text(required=True, validate=[not_blank, validate.Length(max=200)])
    # provider_id goes with the provider role, and only with it.
    JSON_SCHEMA_RULES = {
        "if": {"properties": {"role": {"const": "provider"}}},
        "then": {"required": ["provider_id"], "properties": {"provider_id": {"type": "string"}}},
        "else": {"properties": {"provider_id": {"type": "null"}}},
    }

    role = Text(required=True, validate=validate.OneOf([r.value for r in KEY_ROLES]))
    provider_id = fields.UUID(load_default=None,
                              metadata={"description": "Required for role 'provider'."})


class ApiKeyCreatedSchema(AckSchema):
    """The acknowledgement of a new key, with its secret (shown once)."""

    key = fields.String(metadata={"description": "The secret, shown once: absent from a "
                                                 "replay (`Idempotent-Replayed: true`)."})


class TenantSchema(Schema):
    """A tenant."""

    id = fields.UUID()
    name = fields.String()
    slug = fields.String()
    timezone = fields.String()
    version = fields.Integer()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class TenantPageSchema(PageSchema):
    """A page of tenants."""

    items = fields.List(fields.Nested(TenantSchema))


class ApiKeySchema(Schema):
    """An API key, without its secret."""

    id = fields.UUID()
    name = fields.String()
    role = fields.String()
    provider_id = fields.UUID(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime(metadata={"description": "When it was revoked, else created."})
    revoked_at = UtcDateTime(allow_none=True)
    version = fields.Integer()


class ApiKeyPageSchema(PageSchema):
    """A page of API keys."""

    items = fields.List(fields.Nested(ApiKeySchema))


def _distinct(leads: list[int]) -> None:
    if len(set(leads)) != len(leads):
        raise ValidationError("Each lead time once.")


class UpdateTenantSettingsBody(InputSchema):
    """PATCH /settings: any of the settings; the others keep their values."""

    JSON_SCHEMA_RULES = {"minProperties": 1}  # something to change

    # JSON's integers: 30 and 30.0, never "30" or true (validators.InputSchema).
    min_notice_minutes = fields.Integer(
        validate=validate.Range(min=0, max=MAX_NOTICE_MINUTES),
        metadata={"description": "Minimum notice for bookings, in minutes (at most 30 days).",
                  "example": 120})
    reminder_lead_minutes = fields.List(
        fields.Integer(validate=validate.Range(min=MIN_REMINDER_LEAD, max=MAX_REMINDER_LEAD)),
        validate=[validate.Length(max=MAX_REMINDER_LEADS), _distinct],
        metadata={"description": "How long before an appointment's start each "
                                 "appointment.reminder_due is emitted, in minutes (15 to "
                                 "20160, at most 10, no repeats; [] for none; default "
                                 "[1440, 120]).", "uniqueItems": True,
                  "example": [1440, 120]})
    late_cancellation_hours = fields.Integer(
        validate=validate.Range(min=1, max=MAX_LATE_CANCELLATION_HOURS),
        metadata={"description": "A cancellation less than this many hours before the "
                                 "start counts as late in the clinic metrics (1 to 720; "
                                 "default 24).", "example": 24})

    @validates_schema
    def _something_to_change(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data:
            raise ValidationError("Send at least one setting to change.")


class TenantSettingsSchema(Schema):
    """The tenant's settings; version 0 and a null updated_at until first saved."""

    min_notice_minutes = fields.Integer()
    reminder_lead_minutes = fields.List(fields.Integer())
    late_cancellation_hours = fields.Integer()
    version = fields.Integer()
    updated_at = UtcDateTime(allow_none=True)
