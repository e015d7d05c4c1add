"""Subscribers: idempotent reactions to committed events, run by the outbox relay.

A subscriber is a named function ``(envelope, uow)``. It runs inside its own unit of
work, scoped to the event's tenant, and the inbox row that says "handled" is written
in that same transaction: a redelivered event finds it and does nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from vitalbridge.db import Database
from vitalbridge.messaging.broker import Publisher
from vitalbridge.messaging.messages import Ack, Command, Principal
from vitalbridge.messaging.signals import ALL_EVENTS, EventSignals
from vitalbridge.messaging.uow import CommandContext, UnitOfWork

Reaction = Callable[[dict[str, Any], UnitOfWork], None]

_MARK_HANDLED = text("""
INSERT INTO inbox (tenant_id, subscriber, event_id) VALUES (:tenant, :subscriber, :event)
ON CONFLICT DO NOTHING
""")


@dataclass(frozen=True, kw_only=True)
class HandleEvent(Command):
    """The command a subscriber runs under: reacting to one delivered event."""

    subscriber: str
    event_id: uuid.UUID


@dataclass(frozen=True)
class Subscriber:
    """A named reaction to one event type (``*``: every type)."""

    name: str
    event_type: str
    react: Reaction
    retry_forever: bool = False


def connect(subscriber: Subscriber, signals: EventSignals, db: Database) -> None:
    """Connect ``subscriber`` to its event's signal, wrapped in a unit of work + inbox."""

    def receive(_sender: object, envelope: dict[str, Any]) -> None:
        run_once(subscriber, envelope, db)

    signals.connect(subscriber.event_type, subscriber.name, receive,
                    retry_forever=subscriber.retry_forever)


def run_once(subscriber: Subscriber, envelope: dict[str, Any], db: Database) -> bool:
    """Apply ``subscriber`` to ``envelope`` unless it already did; True if it ran now."""
    tenant_id = uuid.UUID(envelope["tenant_id"])
    event_id = uuid.UUID(envelope["id"])
    context = CommandContext(principal=Principal.system(tenant_id),
                             correlation_id=envelope.get("correlation_id"),
                             causation_id=envelope["id"])
    command = HandleEvent(subscriber=subscriber.name, event_id=event_id)
    with UnitOfWork(db.sessions, context, command) as uow:
        params = {"tenant": tenant_id, "subscriber": subscriber.name, "event": event_id}
        if uow.session.execute(_MARK_HANDLED, params).rowcount == 0:  # type: ignore[attr-defined]
            return False
        subscriber.react(envelope, uow)
        uow.commit(Ack(id=event_id, version=1))
    return True


def broker_subscriber(publisher: Publisher) -> Subscriber:
    """Every event, published to the broker; its inbox row means "confirmed"."""
    return Subscriber(name=publisher.name, event_type=ALL_EVENTS,
                      react=lambda envelope, _uow: publisher.publish(envelope),
                      retry_forever=True)
