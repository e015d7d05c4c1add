"""Wiring, done once per app: each domain's handlers, queries and subscribers."""

from __future__ import annotations

from collections.abc import Iterable
from types import ModuleType

from config.settings import Settings
from vitalbridge.appointment import handlers as appointment_handlers
from vitalbridge.appointment import queries as appointment_queries
from vitalbridge.appointment import subscribers as appointment_subscribers
from vitalbridge.db import build_database
from vitalbridge.messaging import audit_trail, feed
from vitalbridge.messaging.broker import build_publisher
from vitalbridge.messaging.bus import CommandBus, QueryBus
from vitalbridge.messaging.signals import EventSignals
from vitalbridge.messaging.subscribers import Subscriber, broker_subscriber, connect
from vitalbridge.patient import handlers as patient_handlers
from vitalbridge.patient import queries as patient_queries
from vitalbridge.provider import handlers as provider_handlers
from vitalbridge.provider import queries as provider_queries
from vitalbridge.schedule import handlers as schedule_handlers
from vitalbridge.schedule import queries as schedule_queries
from vitalbridge.services import Services
from vitalbridge.tenant import handlers as tenant_handlers
from vitalbridge.tenant import queries as tenant_queries
from vitalbridge.tenant import subscribers as tenant_subscribers

# (handlers module, queries module, subscribers) of each domain, in one explicit list.
DOMAINS: list[tuple[ModuleType, ModuleType, Iterable[Subscriber]]] = [
    (tenant_handlers, tenant_queries, tenant_subscribers.SUBSCRIBERS),
    (provider_handlers, provider_queries, ()),
    (patient_handlers, patient_queries, ()),
    (schedule_handlers, schedule_queries, ()),
    (appointment_handlers, appointment_queries, appointment_subscribers.SUBSCRIBERS),
]


def bootstrap(settings: Settings) -> Services:
    """Build the database, the buses and the event signals, and register every domain."""
    db = build_database(settings)
    commands, queries, signals = CommandBus(db), QueryBus(db), EventSignals()
    for query_type, query_handler in (feed.QUERY_HANDLERS | audit_trail.QUERY_HANDLERS).items():
        queries.register(query_type, query_handler)
    for handlers, query_handlers, subscribers in DOMAINS:
        for command_type, handler in handlers.COMMAND_HANDLERS.items():
            commands.register(command_type, handler)
        for name, error in getattr(handlers, "CONSTRAINT_ERRORS", {}).items():
            commands.register_constraint(name, error)
        for query_type, query_handler in query_handlers.QUERY_HANDLERS.items():
            queries.register(query_type, query_handler)
        for subscriber in subscribers:
            connect(subscriber, signals, db)
    publisher = build_publisher(settings.event_broker_url) if settings.event_broker_url else None
    if publisher is not None:
        connect(broker_subscriber(publisher), signals, db)
    return Services(settings=settings, db=db, commands=commands, queries=queries,
                    signals=signals, publisher=publisher)
