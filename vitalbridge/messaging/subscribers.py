"""Subscribers: idempotent reactions to committed events, run by the outbox relay.

A subscriber is a named function ``(envelope, uow)``. The relay hands it a batch of
events; per tenant they run in one unit of work whose inbox rows say "handled", so a
redelivered event finds its row and does nothing. The batch first runs in one go (one
inbox statement, one commit: what makes delivery fast); if any reaction fails, it is
rolled back whole and run again event by event, each in its own savepoint, so that
one failing event holds back only itself and the later events of its aggregate.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from sqlalchemy import text

from vitalbridge.db import Database, array_literal
from vitalbridge.messaging.broker import Publisher
from vitalbridge.messaging.errors import failure_summary
from vitalbridge.messaging.messages import Ack, Command, Principal
from vitalbridge.messaging.signals import ALL_EVENTS, EventSignals
from vitalbridge.messaging.uow import CommandContext, UnitOfWork

Reaction = Callable[[dict[str, Any], UnitOfWork], None]
BatchReaction = Callable[[list[dict[str, Any]], UnitOfWork], None]
HANDLED = None  # outcome of an event handled now or before
BLOCKED = "blocked"  # an earlier event of its aggregate failed in this batch

_MARK_HANDLED = text("""
INSERT INTO inbox (tenant_id, subscriber, event_id) VALUES (:tenant, :subscriber, :event)
ON CONFLICT DO NOTHING
""")
_MARK_ALL_HANDLED = text("""
INSERT INTO inbox (tenant_id, subscriber, event_id)
SELECT :tenant, :subscriber, unnest(CAST(:events AS uuid[]))
ON CONFLICT DO NOTHING
RETURNING CAST(event_id AS text)
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

    def run(self, envelopes: list[dict[str, Any]], uow: UnitOfWork) -> None:
        """React to each event in turn; each reaction's events name it as their cause."""
        for envelope in envelopes:
            uow.causation_id = envelope["id"]
            self.react(envelope, uow)


@dataclass(frozen=True)
class BatchSubscriber:
    """A named reaction to whole batches of events of several types (a read model).

    It gets every event of its types that a relay batch holds, in one call per tenant,
    so that its work per batch does not grow with the number of events.
    """

    name: str
    event_types: frozenset[str]
    react: BatchReaction
    retry_forever: bool = False

    def run(self, envelopes: list[dict[str, Any]], uow: UnitOfWork) -> None:
        """React to the events at once (none: nothing to do)."""
        if envelopes:
            uow.causation_id = envelopes[-1]["id"]
            self.react(envelopes, uow)


AnySubscriber = Subscriber | BatchSubscriber


def connect(subscriber: AnySubscriber, signals: EventSignals, db: Database) -> None:
    """Connect ``subscriber`` to its events' signal, wrapped in units of work + inbox."""

    def receive(_sender: object, envelopes: list[dict[str, Any]]) -> dict[str, str | None]:
        return run_batch(subscriber, envelopes, db)

    if isinstance(subscriber, BatchSubscriber):
        signals.connect_batch(subscriber.event_types, subscriber.name, receive)
    else:
        signals.connect(subscriber.event_type, subscriber.name, receive,
                        retry_forever=subscriber.retry_forever)


def run_batch(subscriber: AnySubscriber, envelopes: Iterable[dict[str, Any]],
              db: Database) -> dict[str, str | None]:
    """Apply ``subscriber`` to each envelope once; event id -> None, error or BLOCKED."""
    outcomes: dict[str, str | None] = {}
    for tenant, group in groupby(envelopes, key=lambda envelope: envelope["tenant_id"]):
        outcomes.update(_run_tenant(subscriber, uuid.UUID(tenant), list(group), db))
    return outcomes


def _run_tenant(subscriber: AnySubscriber, tenant_id: uuid.UUID,
                envelopes: list[dict[str, Any]], db: Database) -> dict[str, str | None]:
    try:
        return _run_all_at_once(subscriber, tenant_id, envelopes, db)
    except Exception:  # noqa: BLE001 - some reaction failed: find which, one by one
        return _run_one_by_one(subscriber, tenant_id, envelopes, db)


def _unit_of_work(subscriber: AnySubscriber, tenant_id: uuid.UUID,
                  envelopes: list[dict[str, Any]], db: Database) -> UnitOfWork:
    context = CommandContext(principal=Principal.system(tenant_id),
                             correlation_id=envelopes[0].get("correlation_id"))
    command = HandleEvent(subscriber=subscriber.name, event_id=uuid.UUID(envelopes[0]["id"]))
    return UnitOfWork(db.sessions, context, command)


def _run_all_at_once(subscriber: AnySubscriber, tenant_id: uuid.UUID,
                     envelopes: list[dict[str, Any]], db: Database) -> dict[str, str | None]:
    with _unit_of_work(subscriber, tenant_id, envelopes, db) as uow:
        new = set(uow.session.execute(_MARK_ALL_HANDLED, {
            "tenant": tenant_id, "subscriber": subscriber.name,
            "events": array_literal(envelope["id"] for envelope in envelopes)}).scalars().all())
        subscriber.run([envelope for envelope in envelopes if envelope["id"] in new], uow)
        uow.commit(Ack(id=uuid.UUID(envelopes[0]["id"]), version=1))
    return dict.fromkeys((envelope["id"] for envelope in envelopes), HANDLED)


def _run_one_by_one(subscriber: AnySubscriber, tenant_id: uuid.UUID,
                    envelopes: list[dict[str, Any]], db: Database) -> dict[str, str | None]:
    outcomes: dict[str, str | None] = {}
    failed_lanes: set[str] = set()
    with _unit_of_work(subscriber, tenant_id, envelopes, db) as uow:
        for envelope in envelopes:
            if envelope["aggregate_id"] in failed_lanes:
                outcomes[envelope["id"]] = BLOCKED
                continue
            outcome = _run_one(subscriber, envelope, uow)
            if outcome is not None:
                failed_lanes.add(envelope["aggregate_id"])
            outcomes[envelope["id"]] = outcome
        uow.commit(Ack(id=uuid.UUID(envelopes[0]["id"]), version=1))
    return outcomes


def _run_one(subscriber: AnySubscriber, envelope: dict[str, Any], uow: UnitOfWork) -> str | None:
    emitted = len(uow.events)
    try:
        with uow.session.begin_nested():
            params = {"tenant": envelope["tenant_id"], "subscriber": subscriber.name,
                      "event": envelope["id"]}
            if uow.session.execute(_MARK_HANDLED, params).rowcount:  # type: ignore[attr-defined]
                subscriber.run([envelope], uow)
    except Exception as failure:  # noqa: BLE001 - reported back to the relay, which parks it
        uow.forget_events_after(emitted)
        return failure_summary(failure)
    return HANDLED


def broker_subscriber(publisher: Publisher) -> Subscriber:
    """Every event, published to the broker; its inbox row means "confirmed"."""
    return Subscriber(name=publisher.name, event_type=ALL_EVENTS,
                      react=lambda envelope, _uow: publisher.publish(envelope),
                      retry_forever=True)
