"""factory-boy factories of the provider domain: built through the real command bus."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import factory

from tests.factories import dispatch_as_system
from vitalbridge.provider.messages import AddProvider


@dataclass(frozen=True)
class ProviderHandle:
    """A created provider: its id and version, and the names it was given."""

    id: uuid.UUID
    version: int
    given_name: str
    family_name: str
    specialty: str
    timezone: str


class ProviderFactory(factory.Factory):
    """A provider, created through AddProvider inside an app context; pass ``tenant_id``."""

    class Meta:
        model = AddProvider

    given_name = factory.Faker("first_name")
    family_name = factory.Faker("last_name")
    specialty = "Cardiology"
    timezone = "America/New_York"
    email = factory.Sequence(lambda n: f"provider{n}@example.org")
    phone = None

    @classmethod
    def _create(cls, model_class, *args, tenant_id, **kwargs):  # type: ignore[no-untyped-def]
        ack = dispatch_as_system(model_class(**kwargs), tenant_id)
        return ProviderHandle(id=ack.id, version=ack.version, given_name=kwargs["given_name"],
                              family_name=kwargs["family_name"],
                              specialty=kwargs["specialty"], timezone=kwargs["timezone"])
