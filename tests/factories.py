"""factory-boy factories: each builds its model through the real command bus."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import factory
from flask import current_app

from vitalbridge.messaging.messages import Ack, Command, Principal, Role
from vitalbridge.messaging.uow import CommandContext
from vitalbridge.tenant.messages import CreateApiKey, CreatePlatformKey, CreateTenant


def dispatch_as_system(command: Command, tenant_id: uuid.UUID | None = None) -> Ack:
    """Send ``command`` through the current app's bus as the system (inside a tenant)."""
    bus = current_app.extensions["vitalbridge"].commands
    return bus.dispatch(command, CommandContext(principal=Principal.system(tenant_id),
                                                request_id="factory"))


@dataclass(frozen=True)
class TenantHandle:
    """A created tenant and its first admin key."""

    id: uuid.UUID
    slug: str
    admin_key: str


@dataclass(frozen=True)
class KeyHandle:
    """A created key."""

    id: uuid.UUID
    key: str


class TenantFactory(factory.Factory):
    """A tenant (with its first admin key), created through CreateTenant."""

    class Meta:
        model = CreateTenant

    name = factory.Faker("company")
    slug = factory.Sequence(lambda n: f"clinic-{n}-{uuid.uuid4().hex[:6]}")
    timezone = "America/New_York"
    with_admin_key = True

    @classmethod
    def _create(cls, model_class, *args, **kwargs):  # type: ignore[no-untyped-def]
        ack = dispatch_as_system(model_class(**kwargs))
        return TenantHandle(id=ack.id, slug=kwargs["slug"], admin_key=ack.extra["api_key"])


class ApiKeyFactory(factory.Factory):
    """A tenant key with a role, created through CreateApiKey; pass ``tenant_id``."""

    class Meta:
        model = CreateApiKey

    name = factory.Sequence(lambda n: f"key {n}")
    role = Role.STAFF
    provider_id = None

    @classmethod
    def _create(cls, model_class, *args, tenant_id, **kwargs):  # type: ignore[no-untyped-def]
        ack = dispatch_as_system(model_class(**kwargs), tenant_id)
        return KeyHandle(id=ack.id, key=ack.extra["key"])


class PlatformKeyFactory(factory.Factory):
    """A platform_admin key, created through CreatePlatformKey."""

    class Meta:
        model = CreatePlatformKey

    name = "platform admin"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):  # type: ignore[no-untyped-def]
        ack = dispatch_as_system(model_class(**kwargs))
        return KeyHandle(id=ack.id, key=ack.extra["api_key"])
