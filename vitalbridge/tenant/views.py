"""HTTP endpoints of the tenant domain: parse, send a message, answer."""

from __future__ import annotations

import uuid
from typing import Any

from flask import url_for
from flask.typing import ResponseReturnValue

from vitalbridge.http.auth import TENANT_ROLES, current_principal, requires
from vitalbridge.http.blueprint import Blueprint
from vitalbridge.http.commands import expected_version, send_command
from vitalbridge.http.error_docs import conditional, conflicts, if_match
from vitalbridge.http.pagination import PageArgs, page_response, timestamp_id_cursor
from vitalbridge.http.render import single
from vitalbridge.http.schemas import AckSchema
from vitalbridge.messaging.errors import InvalidCommand
from vitalbridge.messaging.messages import Role
from vitalbridge.provider.messages import GetProvider
from vitalbridge.services import services
from vitalbridge.tenant import schemas
from vitalbridge.tenant.handlers import LastAdminKey, SlugTaken
from vitalbridge.tenant.messages import (
    CreateApiKey,
    CreateTenant,
    GetApiKey,
    GetTenant,
    GetTenantSettings,
    ListApiKeys,
    ListTenants,
    RevokeApiKey,
    UpdateTenantSettings,
)

blueprint = Blueprint("tenants", __name__, url_prefix="/api/v1",
                      description="Tenants (platform) and API keys (tenant admins).")


def _by_creation(item: Any) -> tuple[Any, ...]:
    return (item.created_at, item.id)


@blueprint.post("/tenants")
@requires(Role.PLATFORM_ADMIN)
@conflicts(SlugTaken)
@blueprint.arguments(schemas.CreateTenantBody)
@blueprint.response(201, AckSchema)
def create_tenant(body: dict[str, Any]) -> ResponseReturnValue:
    """Create Tenant: emits tenant.created (platform_admin)."""
    return send_command(CreateTenant(**body), created=True,
                        location=lambda ack: url_for("tenants.get_tenant", tenant_id=ack.id))


@blueprint.get("/tenants")
@requires(Role.PLATFORM_ADMIN)
@blueprint.arguments(PageArgs, location="query")
@blueprint.response(200, schemas.TenantPageSchema)
def list_tenants(args: dict[str, Any]) -> ResponseReturnValue:
    """List tenants in creation order (platform_admin)."""
    rows = services().queries.ask(
        ListTenants(limit=args["limit"], after=timestamp_id_cursor(args["cursor"])),
        current_principal())
    return page_response(rows, args["limit"], _by_creation)


@blueprint.get("/tenants/<uuid:tenant_id>")
@requires(Role.PLATFORM_ADMIN)
@blueprint.response(200, schemas.TenantSchema)
@conditional
def get_tenant(tenant_id: uuid.UUID) -> ResponseReturnValue:
    """One tenant (platform_admin)."""
    return single(services().queries.ask(GetTenant(tenant_id=tenant_id), current_principal()),
                  "tenant")


@blueprint.post("/api-keys")
@requires(Role.ADMIN)
@blueprint.arguments(schemas.CreateApiKeyBody)
@blueprint.response(201, schemas.ApiKeyCreatedSchema)
def create_api_key(body: dict[str, Any]) -> ResponseReturnValue:
    """Create an API key; its secret is in this response only (admin)."""
    if body["provider_id"] is not None:
        _require_active_provider(body["provider_id"])
    command = CreateApiKey(name=body["name"], role=Role(body["role"]),
                           provider_id=body["provider_id"])
    return send_command(command, created=True, location=lambda ack: url_for(
        "tenants.get_api_key", key_id=ack.id))


def _require_active_provider(provider_id: uuid.UUID) -> None:
    # Providers are never deleted, only deactivated, so a check before the command is
    # enough: a key bound to an inactive provider would be useless from the start.
    provider = services().queries.ask(GetProvider(provider_id=provider_id), current_principal())
    if provider is None or not provider.active:
        raise InvalidCommand("The provider does not exist or is inactive.",
                             errors={"provider_id": ["Unknown or inactive provider."]})


@blueprint.get("/api-keys")
@requires(Role.ADMIN)
@blueprint.arguments(PageArgs, location="query")
@blueprint.response(200, schemas.ApiKeyPageSchema)
def list_api_keys(args: dict[str, Any]) -> ResponseReturnValue:
    """The tenant's API keys, without secrets (admin)."""
    rows = services().queries.ask(
        ListApiKeys(limit=args["limit"], after=timestamp_id_cursor(args["cursor"])),
        current_principal())
    return page_response(rows, args["limit"], _by_creation)


@blueprint.get("/api-keys/<uuid:key_id>")
@requires(Role.ADMIN)
@blueprint.response(200, schemas.ApiKeySchema)
@conditional
def get_api_key(key_id: uuid.UUID) -> ResponseReturnValue:
    """One API key, without its secret (admin)."""
    return single(services().queries.ask(GetApiKey(key_id=key_id), current_principal()),
                  "API key")


@blueprint.post("/api-keys/<uuid:key_id>/revoke")
@requires(Role.ADMIN)
@conflicts(LastAdminKey)
@blueprint.response(200, AckSchema)
def revoke_api_key(key_id: uuid.UUID) -> ResponseReturnValue:
    """Revoke a key; it stops working at once (admin)."""
    return send_command(RevokeApiKey(key_id=key_id))


@blueprint.get("/settings")
@requires(*TENANT_ROLES)
@blueprint.response(200, schemas.TenantSettingsSchema)
@conditional
def get_tenant_settings() -> ResponseReturnValue:
    """The tenant's settings, with its ETag; defaults (version 0) until first saved."""
    return single(services().queries.ask(GetTenantSettings(), current_principal()),
                  "settings")


@blueprint.patch("/settings")
@requires(Role.ADMIN)
@if_match
@blueprint.arguments(schemas.UpdateTenantSettingsBody)
@blueprint.response(200, AckSchema)
def update_tenant_settings(body: dict[str, Any]) -> ResponseReturnValue:
    """Update Tenant Settings: If-Match optional ("0" before the first save); emits
    tenant.settings_updated (admin)."""
    leads = body.get("reminder_lead_minutes")
    return send_command(UpdateTenantSettings(
        min_notice_minutes=body.get("min_notice_minutes"),
        reminder_lead_minutes=tuple(leads) if leads is not None else None,
        late_cancellation_hours=body.get("late_cancellation_hours"),
        expected_version=expected_version()))
