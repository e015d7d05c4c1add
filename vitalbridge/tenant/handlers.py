"""Command handlers of the tenant domain."""

from __future__ import annotations

import uuid

from sqlalchemy import exists, func, select, update
from sqlalchemy.dialects.postgresql import insert

from vitalbridge.messaging.errors import DomainError, InvalidCommand, NotFound, require_version
from vitalbridge.messaging.messages import Ack, Role
from vitalbridge.messaging.uow import UnitOfWork
from vitalbridge.tenant.messages import (
    ApiKeyCreated,
    ApiKeyRevoked,
    CreateApiKey,
    CreatePlatformKey,
    CreateTenant,
    RevokeApiKey,
    TenantCreated,
    TenantSettingsUpdated,
    UpdateTenantSettings,
    format_api_key,
)
from vitalbridge.tenant.model import ApiKey, PlatformKey, Tenant, TenantSettings
from vitalbridge.tenant.secrets import hash_secret, new_secret


class LastAdminKey(DomainError):
    """Revoking this key would leave the tenant without any admin key."""

    type = "last-admin-key"
    title = "Last admin key"


class SlugTaken(DomainError):
    """Another tenant already uses this slug."""

    type = "slug-taken"
    title = "Slug already in use"


def create_tenant(cmd: CreateTenant, uow: UnitOfWork) -> Ack:
    """Create a clinic (and, for the CLI, its first admin key) in one transaction."""
    if uow.session.scalar(select(exists().where(Tenant.slug == cmd.slug))):
        raise SlugTaken(f"The slug '{cmd.slug}' is already in use.", errors={
            "slug": ["Already in use."]})
    tenant_id = uuid.uuid4()
    uow.session.add(Tenant(id=tenant_id, name=cmd.name, slug=cmd.slug, timezone=cmd.timezone))
    uow.emit(TenantCreated(tenant_id=tenant_id, aggregate_id=tenant_id, name=cmd.name,
                           slug=cmd.slug, timezone=cmd.timezone))
    extra = {}
    if cmd.with_admin_key:
        uow.use_tenant(tenant_id)
        extra["api_key"] = _add_key(uow, tenant_id, "first admin key", Role.ADMIN, None)
    return Ack(id=tenant_id, version=1, extra=extra, secret=frozenset({"api_key"}))


def create_api_key(cmd: CreateApiKey, uow: UnitOfWork) -> Ack:
    """Create a key in the acting admin's tenant; the secret is answered once."""
    if (cmd.role == Role.PROVIDER) != (cmd.provider_id is not None):
        raise InvalidCommand("provider_id goes with the provider role, and only with it.",
                             errors={"provider_id": [
                                 "Required for role 'provider', not allowed otherwise."]})
    tenant_id = uow.acting_tenant
    key_id = uuid.uuid4()
    token = _add_key(uow, tenant_id, cmd.name, cmd.role, cmd.provider_id, key_id=key_id)
    return Ack(id=key_id, version=1, extra={"key": token}, secret=frozenset({"key"}))


def revoke_api_key(cmd: RevokeApiKey, uow: UnitOfWork) -> Ack:
    """Revoke a key of the acting tenant; revoking twice changes nothing more."""
    tenant_id = uow.acting_tenant
    key = uow.session.get(ApiKey, (tenant_id, cmd.key_id), with_for_update=True)
    if key is None:
        raise NotFound("No such API key.")
    if key.revoked_at is None:
        if key.role == Role.ADMIN.value:
            _refuse_if_last_admin(uow, tenant_id)
        uow.session.execute(update(ApiKey).where(
            ApiKey.tenant_id == tenant_id, ApiKey.id == cmd.key_id,
        ).values(revoked_at=func.now(), version=ApiKey.version + 1))
        uow.session.refresh(key)
        uow.emit(ApiKeyRevoked(tenant_id=tenant_id, aggregate_id=key.id))
    return Ack(id=key.id, version=key.version, status="revoked")


def _refuse_if_last_admin(uow: UnitOfWork, tenant_id: uuid.UUID) -> None:
    # Locking every active admin key serialises concurrent revocations: the second one
    # re-reads the rows after the first commits and sees one admin fewer.
    active_admins = uow.session.scalars(select(ApiKey.id).where(
        ApiKey.tenant_id == tenant_id, ApiKey.role == Role.ADMIN.value,
        ApiKey.revoked_at.is_(None)).with_for_update()).all()
    if len(active_admins) <= 1:
        raise LastAdminKey("This is the tenant's last active admin key; create another "
                           "admin key first.")


def create_platform_key(cmd: CreatePlatformKey, uow: UnitOfWork) -> Ack:
    """Create a platform_admin key (CLI)."""
    key_id, secret = uuid.uuid4(), new_secret()
    uow.session.add(PlatformKey(id=key_id, name=cmd.name, secret_hash=hash_secret(secret)))
    return Ack(id=key_id, version=1, extra={"api_key": format_api_key(None, key_id, secret)},
               secret=frozenset({"api_key"}))


def _add_key(uow: UnitOfWork, tenant_id: uuid.UUID, name: str, role: Role,
             provider_id: uuid.UUID | None, *, key_id: uuid.UUID | None = None) -> str:
    key_id = key_id or uuid.uuid4()
    secret = new_secret()
    uow.session.add(ApiKey(tenant_id=tenant_id, id=key_id, name=name, role=role.value,
                           provider_id=provider_id, secret_hash=hash_secret(secret)))
    uow.emit(ApiKeyCreated(tenant_id=tenant_id, aggregate_id=key_id, name=name,
                           role=role.value, provider_id=provider_id))
    return format_api_key(tenant_id, key_id, secret)


def update_tenant_settings(cmd: UpdateTenantSettings, uow: UnitOfWork) -> Ack:
    """Save the settings given (the others keep their values, or their defaults on the
    first save): version 1 on the first save, then +1 each time."""
    tenant_id = uow.acting_tenant
    current = uow.session.get(TenantSettings, tenant_id, with_for_update=True)
    # Never saved counts as version 0, so "If-Match: 0" guards a first save.
    require_version("tenant settings", current.version if current else 0, cmd.expected_version)
    values = {name: value for name, value in (
        ("min_notice_minutes", cmd.min_notice_minutes),
        ("reminder_lead_minutes", list(cmd.reminder_lead_minutes)
         if cmd.reminder_lead_minutes is not None else None),
        ("late_cancellation_hours", cmd.late_cancellation_hours)) if value is not None}
    stmt = insert(TenantSettings).values(tenant_id=tenant_id, **values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[TenantSettings.tenant_id],
        set_={**values, "version": TenantSettings.version + 1, "updated_at": func.now()})
    saved = uow.session.execute(stmt.returning(
        TenantSettings.version, TenantSettings.min_notice_minutes,
        TenantSettings.reminder_lead_minutes, TenantSettings.late_cancellation_hours)).one()
    # Two first saves find no row to lock; the later one updates what the earlier inserted
    # (ON CONFLICT), so check If-Match again against the version it really replaced.
    require_version("tenant settings", saved.version - 1, cmd.expected_version)
    uow.emit(TenantSettingsUpdated(tenant_id=tenant_id, aggregate_id=tenant_id,
                                   min_notice_minutes=saved.min_notice_minutes,
                                   reminder_lead_minutes=tuple(saved.reminder_lead_minutes),
                                   late_cancellation_hours=saved.late_cancellation_hours))
    return Ack(id=tenant_id, version=saved.version)


CONSTRAINT_ERRORS = {
    "uq_tenants_slug": lambda cmd: SlugTaken(
        f"The slug '{cmd.slug}' is already in use.", errors={"slug": ["Already in use."]}),
}

COMMAND_HANDLERS = {
    CreateTenant: create_tenant,
    CreateApiKey: create_api_key,
    RevokeApiKey: revoke_api_key,
    CreatePlatformKey: create_platform_key,
    UpdateTenantSettings: update_tenant_settings,
}
