"""HTTP bodies of the tenant domain."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from vitalbridge.http.pagination import PageSchema
from vitalbridge.http.render import UtcDateTime
from vitalbridge.http.schemas import AckSchema
from vitalbridge.http.validators import InputSchema, Text, TimeZoneName, not_blank
from vitalbridge.tenant.messages import KEY_ROLES, MAX_NOTICE_MINUTES

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


class UpdateTenantSettingsBody(InputSchema):
    """PATCH /settings."""

    # JSON's integers: 30 and 30.0, never "30" or true (validators.InputSchema).
    min_notice_minutes = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=0, max=MAX_NOTICE_MINUTES),
        metadata={"description": "Minimum notice for bookings, in minutes (at most 30 days).",
                  "example": 120})


class TenantSettingsSchema(Schema):
    """The tenant's settings; version 0 and a null updated_at until first saved."""

    min_notice_minutes = fields.Integer()
    version = fields.Integer()
    updated_at = UtcDateTime(allow_none=True)
