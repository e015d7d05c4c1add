"""Command handlers of the provider domain."""

from __future__ import annotations

import uuid

from sqlalchemy import func

from vitalbridge.messaging.errors import NotFound, require_version
from vitalbridge.messaging.messages import Ack
from vitalbridge.messaging.uow import UnitOfWork
from vitalbridge.provider.messages import (
    AddProvider,
    DeactivateProvider,
    ProviderCreated,
    ProviderDeactivated,
    ProviderUpdated,
    UpdateProvider,
)
from vitalbridge.provider.model import Provider


def add_provider(cmd: AddProvider, uow: UnitOfWork) -> Ack:
    """Add a provider to the acting tenant; it starts active, at version 1."""
    tenant_id = uow.acting_tenant
    provider_id = uuid.uuid4()
    uow.session.add(Provider(
        tenant_id=tenant_id, id=provider_id, given_name=cmd.given_name,
        family_name=cmd.family_name, specialty=cmd.specialty, email=cmd.email,
        phone=cmd.phone, timezone=cmd.timezone))
    uow.emit(ProviderCreated(
        tenant_id=tenant_id, aggregate_id=provider_id, given_name=cmd.given_name,
        family_name=cmd.family_name, specialty=cmd.specialty, email=cmd.email,
        phone=cmd.phone, timezone=cmd.timezone))
    return Ack(id=provider_id, version=1)


def update_provider(cmd: UpdateProvider, uow: UnitOfWork) -> Ack:
    """Change the given fields; an update that changes nothing bumps nothing."""
    provider = _locked(uow, cmd.provider_id)
    require_version("provider", provider.version, cmd.expected_version)
    changes = {name: value for name, value in cmd.changes().items()
               if getattr(provider, name) != value}
    if changes:
        for name, value in changes.items():
            setattr(provider, name, value)
        _bump(provider)
        uow.emit(ProviderUpdated(tenant_id=provider.tenant_id, aggregate_id=provider.id,
                                 changes=changes))
    return Ack(id=provider.id, version=provider.version)


def deactivate_provider(cmd: DeactivateProvider, uow: UnitOfWork) -> Ack:
    """Take a provider out of service; an inactive one is answered as it is."""
    provider = _locked(uow, cmd.provider_id)
    # A retried deactivation (same If-Match as the first try) must not become a 412.
    if provider.active:
        require_version("provider", provider.version, cmd.expected_version)
        provider.active = False
        provider.deactivated_at = func.now()
        _bump(provider)
        uow.emit(ProviderDeactivated(tenant_id=provider.tenant_id, aggregate_id=provider.id))
    return Ack(id=provider.id, version=provider.version, status="inactive")


def _locked(uow: UnitOfWork, provider_id: uuid.UUID) -> Provider:
    # Row lock: concurrent updates queue up, so If-Match and the version bump are sound.
    provider = uow.session.get(Provider, (uow.acting_tenant, provider_id),
                               with_for_update=True)
    if provider is None:
        raise NotFound("No such provider.")
    return provider


def _bump(provider: Provider) -> None:
    provider.version += 1
    provider.updated_at = func.now()



COMMAND_HANDLERS = {
    AddProvider: add_provider,
    UpdateProvider: update_provider,
    DeactivateProvider: deactivate_provider,
}
