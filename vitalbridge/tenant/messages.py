"""The tenant domain's public face: its commands, queries, events and views."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from vitalbridge.messaging.messages import Command, Event, Principal, Query, Role

# Tenant keys carry their tenant id, so authentication can scope its lookup to that
# tenant before reading anything (row-level security stays on for it too).
_TENANT_KEY = re.compile(r"^vbk_([0-9a-f]{32})_([0-9a-f]{32})_([0-9a-f]{48})$")
_PLATFORM_KEY = re.compile(r"^vbp_([0-9a-f]{32})_([0-9a-f]{48})$")
KEY_ROLES = (Role.ADMIN, Role.STAFF, Role.PROVIDER, Role.READONLY)
# The longest minimum notice a tenant may ask for bookings: 30 days, in minutes.
MAX_NOTICE_MINUTES = 30 * 24 * 60
# Reminder lead times (minutes before an appointment's start): 15 minutes to 14 days,
# at most 10 of them; by default a day and two hours ahead.
DEFAULT_REMINDER_LEADS = (1440, 120)
MIN_REMINDER_LEAD, MAX_REMINDER_LEAD, MAX_REMINDER_LEADS = 15, 20_160, 10
# A cancellation this close to the start counts as late in the clinic metrics.
DEFAULT_LATE_CANCELLATION_HOURS, MAX_LATE_CANCELLATION_HOURS = 24, 720


@dataclass(frozen=True)
class ParsedKey:
    """An API key split into its parts; ``tenant_id`` is None for platform keys."""

    tenant_id: uuid.UUID | None
    key_id: uuid.UUID
    secret: str


def parse_api_key(token: str) -> ParsedKey | None:
    """Split a presented API key, or None if it is not shaped like one of ours."""
    if match := _TENANT_KEY.match(token):
        return ParsedKey(uuid.UUID(match[1]), uuid.UUID(match[2]), match[3])
    if match := _PLATFORM_KEY.match(token):
        return ParsedKey(None, uuid.UUID(match[1]), match[2])
    return None


def format_api_key(tenant_id: uuid.UUID | None, key_id: uuid.UUID, secret: str) -> str:
    """The presented form of a key (inverse of ``parse_api_key``)."""
    if tenant_id is None:
        return f"vbp_{key_id.hex}_{secret}"
    return f"vbk_{tenant_id.hex}_{key_id.hex}_{secret}"


# Commands ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CreateTenant(Command):
    """Create a clinic; optionally with a first admin key (the CLI asks for one)."""

    name: str
    slug: str
    timezone: str
    with_admin_key: bool = False


@dataclass(frozen=True, kw_only=True)
class CreateApiKey(Command):
    """Create a key for the acting admin's tenant; the secret is answered once."""

    name: str
    role: Role
    provider_id: uuid.UUID | None = None


@dataclass(frozen=True, kw_only=True)
class RevokeApiKey(Command):
    """Revoke a key; it stops working at once."""

    target_field: ClassVar[str | None] = "key_id"

    key_id: uuid.UUID


@dataclass(frozen=True, kw_only=True)
class CreatePlatformKey(Command):
    """Create a platform_admin key (CLI only)."""

    name: str


@dataclass(frozen=True, kw_only=True)
class UpdateTenantSettings(Command):
    """Change the acting tenant's settings: those given (None: unchanged; the first save
    creates them, the others at their defaults)."""

    min_notice_minutes: int | None = None
    reminder_lead_minutes: tuple[int, ...] | None = None
    late_cancellation_hours: int | None = None
    expected_version: int | None = None

    def target_id(self, principal: Principal) -> uuid.UUID | None:
        """The settings are the acting tenant's: the tenant is what this command changes."""
        return principal.tenant_id


# Events -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class TenantCreated(Event):
    """A clinic was created."""

    type: ClassVar[str] = "tenant.created"
    aggregate_type: ClassVar[str] = "tenant"

    name: str
    slug: str
    timezone: str


@dataclass(frozen=True, kw_only=True)
class ApiKeyCreated(Event):
    """A tenant key was created (its secret is never part of an event)."""

    type: ClassVar[str] = "api_key.created"
    aggregate_type: ClassVar[str] = "api_key"

    name: str
    role: str
    provider_id: uuid.UUID | None


@dataclass(frozen=True, kw_only=True)
class ApiKeyRevoked(Event):
    """A tenant key was revoked."""

    type: ClassVar[str] = "api_key.revoked"
    aggregate_type: ClassVar[str] = "api_key"


@dataclass(frozen=True, kw_only=True)
class TenantSettingsUpdated(Event):
    """A tenant's booking settings changed; ``aggregate_id`` is the tenant's id."""

    type: ClassVar[str] = "tenant.settings_updated"
    aggregate_type: ClassVar[str] = "tenant_settings"

    min_notice_minutes: int
    reminder_lead_minutes: tuple[int, ...] = DEFAULT_REMINDER_LEADS
    late_cancellation_hours: int = DEFAULT_LATE_CANCELLATION_HOURS


# Queries and their answers ---------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AuthenticateApiKey(Query):
    """Who holds this key? Answers a Principal, or None for unknown/revoked keys."""

    reads_primary: ClassVar[bool] = True
    key: ParsedKey


@dataclass(frozen=True, kw_only=True)
class ListTenants(Query):
    """Tenants in creation order (platform)."""

    limit: int
    after: tuple[datetime, uuid.UUID] | None = None


@dataclass(frozen=True, kw_only=True)
class GetTenant(Query):
    """One tenant, or None."""

    tenant_id: uuid.UUID


@dataclass(frozen=True, kw_only=True)
class FindTenantBySlug(Query):
    """One tenant by its slug, or None."""

    slug: str


@dataclass(frozen=True, kw_only=True)
class ListApiKeys(Query):
    """The asking tenant's keys, newest last; never their secrets."""

    limit: int
    after: tuple[datetime, uuid.UUID] | None = None


@dataclass(frozen=True, kw_only=True)
class GetApiKey(Query):
    """One of the asking tenant's keys, never its secret; None if it has no such key."""

    key_id: uuid.UUID


@dataclass(frozen=True, kw_only=True)
class GetTenantSettings(Query):
    """The asking tenant's booking settings; the defaults when it never saved any."""


@dataclass(frozen=True)
class TenantView:
    """A tenant as queries answer it."""

    id: uuid.UUID
    name: str
    slug: str
    timezone: str
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ApiKeyView:
    """A key as queries answer it: never its secret or hash."""

    id: uuid.UUID
    name: str
    role: str
    provider_id: uuid.UUID | None
    created_at: datetime
    revoked_at: datetime | None
    version: int

    @property
    def updated_at(self) -> datetime:
        """When the key last changed: revoking is the only change a key undergoes."""
        return self.revoked_at or self.created_at


@dataclass(frozen=True)
class TenantSettingsView:
    """A tenant's booking settings; version 0 and no ``updated_at`` until first saved."""

    min_notice_minutes: int = 0
    reminder_lead_minutes: tuple[int, ...] = DEFAULT_REMINDER_LEADS
    late_cancellation_hours: int = DEFAULT_LATE_CANCELLATION_HOURS
    version: int = 0
    updated_at: datetime | None = None
