"""The provider domain's public face: its commands, queries, events and views.

Other domains (schedule, appointment) ask ``GetProvider`` / ``FindProviders`` for a
provider's time zone and active flag, and react to ``provider.deactivated``.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from vitalbridge.messaging.messages import Command, Event, Query

# The fields a client may set on a provider (POST) and change (PATCH); nothing else.
EDITABLE_FIELDS = ("given_name", "family_name", "specialty", "email", "phone", "timezone")


class Unset(enum.Enum):
    """Marks a field an update leaves alone (``None`` means "clear it")."""

    UNSET = "unset"


UNSET = Unset.UNSET


# Commands ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AddProvider(Command):
    """Add a provider to the acting tenant.

    ``timezone`` is already resolved: the HTTP edge fills in the tenant's zone when the
    client sent none, so the handler needs no other domain's data.
    """

    given_name: str
    family_name: str
    specialty: str
    timezone: str
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True, kw_only=True)
class UpdateProvider(Command):
    """Change some of a provider's fields; ``expected_version`` comes from If-Match."""

    target_field: ClassVar[str | None] = "provider_id"

    provider_id: uuid.UUID
    expected_version: int | None = None
    given_name: str | Unset = UNSET
    family_name: str | Unset = UNSET
    specialty: str | Unset = UNSET
    email: str | Unset | None = UNSET
    phone: str | Unset | None = UNSET
    timezone: str | Unset = UNSET

    def changes(self) -> dict[str, Any]:
        """The fields this update sets, with their new values."""
        return {name: getattr(self, name) for name in EDITABLE_FIELDS
                if getattr(self, name) is not UNSET}


@dataclass(frozen=True, kw_only=True)
class DeactivateProvider(Command):
    """Take a provider out of service; doing it twice changes nothing more."""

    target_field: ClassVar[str | None] = "provider_id"

    provider_id: uuid.UUID
    expected_version: int | None = None


# Events -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ProviderCreated(Event):
    """A provider was added."""

    type: ClassVar[str] = "provider.created"
    aggregate_type: ClassVar[str] = "provider"

    given_name: str
    family_name: str
    specialty: str
    email: str | None
    phone: str | None
    timezone: str
    active: bool = True


@dataclass(frozen=True, kw_only=True)
class ProviderUpdated(Event):
    """Some of a provider's fields changed; ``changes`` holds only those, with new values."""

    type: ClassVar[str] = "provider.updated"
    aggregate_type: ClassVar[str] = "provider"

    changes: Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class ProviderDeactivated(Event):
    """A provider was taken out of service (its future appointments get cancelled)."""

    type: ClassVar[str] = "provider.deactivated"
    aggregate_type: ClassVar[str] = "provider"


# Queries and their answers ---------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class GetProvider(Query):
    """One provider of the asking tenant, or None."""

    provider_id: uuid.UUID


@dataclass(frozen=True, kw_only=True)
class FindProviders(Query):
    """The asking tenant's providers matching every filter given, in name order.

    ``ids`` limits to those providers (unknown ids are simply absent from the answer);
    ``specialty`` compares case-insensitively; ``active_only`` drops deactivated ones.
    """

    ids: tuple[uuid.UUID, ...] | None = None
    specialty: str | None = None
    active_only: bool = False


@dataclass(frozen=True, kw_only=True)
class ListProviders(Query):
    """A page of providers in (family_name, given_name, id) order, filtered (HTTP list)."""

    limit: int
    after: tuple[str, str, uuid.UUID] | None = None
    specialty: str | None = None
    q: str | None = None
    active: bool | None = None


@dataclass(frozen=True)
class ProviderView:
    """A provider as queries answer it."""

    id: uuid.UUID
    given_name: str
    family_name: str
    specialty: str
    email: str | None
    phone: str | None
    timezone: str
    active: bool
    version: int
    created_at: datetime
    updated_at: datetime
    deactivated_at: datetime | None

    @property
    def display_name(self) -> str:
        """The name to show people: given then family name."""
        return f"{self.given_name} {self.family_name}"

    @property
    def status(self) -> str:
        """``active`` or ``inactive``, as the deactivation acknowledgement says it."""
        return "active" if self.active else "inactive"

