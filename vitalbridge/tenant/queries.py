"""Query handlers of the tenant domain (read-only)."""

from __future__ import annotations

from sqlalchemy import bindparam, select, tuple_

from vitalbridge.driver_sql import DriverStatement
from vitalbridge.messaging.bus import ReadContext
from vitalbridge.messaging.messages import Principal, Role
from vitalbridge.tenant.messages import (
    ApiKeyView,
    AuthenticateApiKey,
    FindTenantBySlug,
    GetApiKey,
    GetTenant,
    GetTenantSettings,
    ListApiKeys,
    ListTenants,
    TenantSettingsView,
    TenantView,
)
from vitalbridge.tenant.model import ApiKey, PlatformKey, Tenant, TenantSettings
from vitalbridge.tenant.secrets import secret_matches


def authenticate_api_key(query: AuthenticateApiKey, ctx: ReadContext) -> Principal | None:
    """The principal a key stands for; None when unknown, revoked or wrong.

    The secret's hash is computed and compared whether the key exists or not, so the
    answer takes as long for an unknown id as for a wrong secret: timing tells a caller
    nothing about which key ids exist.
    """
    key = query.key
    if key.tenant_id is None:
        platform = ctx.session.get(PlatformKey, key.key_id)
        matches = secret_matches(key.secret, platform.secret_hash if platform else NO_KEY)
        if platform is None or platform.revoked_at or not matches:
            return None
        return Principal(role=Role.PLATFORM_ADMIN, key_id=platform.id)
    row = _TENANT_KEY.first(ctx.session, {"tenant": key.tenant_id, "id": key.key_id})
    matches = secret_matches(key.secret, row.secret_hash if row else NO_KEY)
    if row is None or row.revoked_at or not matches:
        return None
    return Principal(role=Role(row.role), tenant_id=key.tenant_id, key_id=key.key_id,
                     provider_id=row.provider_id)


# What an unknown key's secret is compared with: the length of a stored hash, and never
# equal to one (an HMAC-SHA256 is hex digits).
NO_KEY = "-" * 64


# Every authenticated request asks this: through the driver (vitalbridge/driver_sql.py).
_TENANT_KEY = DriverStatement.of(select(
    ApiKey.role, ApiKey.provider_id, ApiKey.secret_hash, ApiKey.revoked_at
).where(ApiKey.tenant_id == bindparam("tenant"), ApiKey.id == bindparam("id")))


def list_tenants(query: ListTenants, ctx: ReadContext) -> list[TenantView]:
    """A page of tenants (one more row than asked, to tell whether more follow)."""
    stmt = select(Tenant).order_by(Tenant.created_at, Tenant.id)
    if query.after:
        stmt = stmt.where(tuple_(Tenant.created_at, Tenant.id) > tuple_(*query.after))
    return [_tenant_view(t) for t in ctx.session.scalars(stmt.limit(query.limit + 1))]


def get_tenant(query: GetTenant, ctx: ReadContext) -> TenantView | None:
    """One tenant by id."""
    tenant = ctx.session.get(Tenant, query.tenant_id)
    return _tenant_view(tenant) if tenant else None


def find_tenant_by_slug(query: FindTenantBySlug, ctx: ReadContext) -> TenantView | None:
    """One tenant by slug."""
    tenant = ctx.session.scalar(select(Tenant).where(Tenant.slug == query.slug))
    return _tenant_view(tenant) if tenant else None


def list_api_keys(query: ListApiKeys, ctx: ReadContext) -> list[ApiKeyView]:
    """A page of the tenant's keys (row-level security limits them to it)."""
    stmt = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    if query.after:
        stmt = stmt.where(tuple_(ApiKey.created_at, ApiKey.id) > tuple_(*query.after))
    return [_api_key_view(k) for k in ctx.session.scalars(stmt.limit(query.limit + 1))]


def get_api_key(query: GetApiKey, ctx: ReadContext) -> ApiKeyView | None:
    """One key of the tenant (row-level security hides every other tenant's)."""
    key = ctx.session.get(ApiKey, (ctx.principal.scope, query.key_id))
    return _api_key_view(key) if key else None


def _api_key_view(key: ApiKey) -> ApiKeyView:
    return ApiKeyView(id=key.id, name=key.name, role=key.role, provider_id=key.provider_id,
                      created_at=key.created_at, revoked_at=key.revoked_at,
                      version=key.version)


# Through the driver (vitalbridge/driver_sql.py): every booking reads the minimum notice.
_SETTINGS = DriverStatement.of(select(
    TenantSettings.min_notice_minutes, TenantSettings.reminder_lead_minutes,
    TenantSettings.late_cancellation_hours, TenantSettings.version, TenantSettings.updated_at
).where(TenantSettings.tenant_id == bindparam("tenant_id")))


def get_tenant_settings(query: GetTenantSettings, ctx: ReadContext) -> TenantSettingsView:
    """The asker's tenant settings, or the defaults (version 0) when never saved."""
    row = _SETTINGS.first(ctx.session, {"tenant_id": ctx.principal.scope})
    if row is None:
        return TenantSettingsView()
    return TenantSettingsView(min_notice_minutes=row.min_notice_minutes,
                              reminder_lead_minutes=tuple(row.reminder_lead_minutes),
                              late_cancellation_hours=row.late_cancellation_hours,
                              version=row.version, updated_at=row.updated_at)


def _tenant_view(tenant: Tenant) -> TenantView:
    return TenantView(id=tenant.id, name=tenant.name, slug=tenant.slug,
                      timezone=tenant.timezone, version=tenant.version,
                      created_at=tenant.created_at, updated_at=tenant.updated_at)


QUERY_HANDLERS = {
    AuthenticateApiKey: authenticate_api_key,
    ListTenants: list_tenants,
    GetApiKey: get_api_key,
    GetTenant: get_tenant,
    FindTenantBySlug: find_tenant_by_slug,
    ListApiKeys: list_api_keys,
    GetTenantSettings: get_tenant_settings,
}
