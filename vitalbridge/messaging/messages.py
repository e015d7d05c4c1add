"""Base types every domain's ``messages.py`` builds on: commands, queries, events."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from vitalbridge.db import PLATFORM_SCOPE


class Role(enum.StrEnum):
    """What a key may do (shared/API.md, Authentication)."""

    PLATFORM_ADMIN = "platform_admin"
    ADMIN = "admin"
    STAFF = "staff"
    PROVIDER = "provider"
    READONLY = "readonly"
    SYSTEM = "system"  # the app itself: relay subscribers, CLI commands


@dataclass(frozen=True, kw_only=True)
class Principal:
    """Who is acting: the tenant and role of an API key, or the system."""

    role: Role
    tenant_id: uuid.UUID | None = None
    key_id: uuid.UUID | None = None
    provider_id: uuid.UUID | None = None

    @property
    def scope(self) -> uuid.UUID:
        """The tenant id that row-level security sees for this principal."""
        return self.tenant_id or PLATFORM_SCOPE

    @classmethod
    def system(cls, tenant_id: uuid.UUID | None = None) -> Principal:
        """The app acting on its own behalf, inside one tenant or at platform level."""
        return cls(role=Role.SYSTEM, tenant_id=tenant_id)


@dataclass(frozen=True, kw_only=True)
class Command:
    """Base of every command: an imperative request to change one domain's state."""

    # The field naming the existing resource the command acts on, so that its audit row
    # names it even when the command is refused; None for commands that create one.
    target_field: ClassVar[str | None] = None

    def target_id(self, principal: Principal) -> uuid.UUID | None:
        """The resource this command, sent by ``principal``, acts on, if it names one."""
        return getattr(self, self.target_field) if self.target_field else None


@dataclass(frozen=True, kw_only=True)
class Query:
    """Base of every query: a question that never changes anything.

    Queries read the replica when one is configured; a query whose answer must not lag
    (authentication: a revoked key must stop working at once) sets ``reads_primary``.
    """

    reads_primary: ClassVar[bool] = False


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of every domain event: a past-tense fact, delivered through the outbox."""

    type: ClassVar[str]
    aggregate_type: ClassVar[str]
    version: ClassVar[int] = 1

    tenant_id: uuid.UUID
    aggregate_id: uuid.UUID

    def data(self) -> dict[str, Any]:
        """The event's payload, JSON-ready, without the envelope fields."""
        # Field by field, not asdict(): that deep-copies every value before converting it.
        return {f.name: to_json_value(getattr(self, f.name)) for f in fields(self)
                if f.name not in _ENVELOPE_FIELDS}


_ENVELOPE_FIELDS = frozenset({"tenant_id", "aggregate_id"})


@dataclass(frozen=True, kw_only=True)
class Ack:
    """What a command answers: the id and version it produced, never a read model."""

    id: uuid.UUID
    version: int
    status: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    # Extras shown once and never stored (a new API key's secret): an idempotent replay
    # answers without them, since keeping them would keep the secret in the database.
    secret: frozenset[str] = frozenset()
    # When the command's transaction wrote its last row, by the database's clock (never
    # part of the body): what the reply's Consistency-Token waits for.
    written_at: datetime | None = field(default=None, compare=False)
    # The primary's WAL position after its commit: what a replica must have replayed.
    commit_lsn: str | None = field(default=None, compare=False)

    def to_json(self, *, with_secrets: bool = True) -> dict[str, Any]:
        """The acknowledgement body of shared/API.md (without secrets, to be stored)."""
        body: dict[str, Any] = {"id": str(self.id), "version": self.version}
        if self.status is not None:
            body["status"] = self.status
        body.update({key: to_json_value(value) for key, value in self.extra.items()
                     if with_secrets or key not in self.secret})
        return body

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Ack:
        """Rebuild an acknowledgement stored for an idempotent replay."""
        rest = {k: v for k, v in body.items() if k not in {"id", "version", "status"}}
        return cls(
            id=uuid.UUID(body["id"]), version=body["version"], status=body.get("status"),
            extra=rest,
        )


_PLAIN = frozenset({str, int, float, bool})


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(kind: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(kind)
    if names is None:
        names = _FIELD_NAMES[kind] = tuple(f.name for f in fields(kind))
    return names


def dataclass_json(value: Any) -> dict[str, Any]:
    """``to_json_value`` of a dataclass instance, without ``asdict``'s deep copy.

    Read models convert thousands of views a batch; ``asdict`` copies every value
    recursively first, which costs more than the conversion itself.
    """
    return {name: to_json_value(getattr(value, name)) for name in _field_names(type(value))}


def to_json_value(value: Any) -> Any:
    """Convert the value types messages carry into JSON-compatible values."""
    if value is None or type(value) in _PLAIN:  # exact types: a str enum is not plain
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.isoformat()
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [to_json_value(item) for item in value]
    if isinstance(value, dict):
        return {key: to_json_value(item) for key, item in value.items()}
    if is_dataclass(value) and not isinstance(value, type):
        return dataclass_json(value)
    return value
