"""Wiring, done once per app: each domain's handlers, queries and subscribers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any

from config.settings import Settings
from vitalbridge.appointment import batch_queries as appointment_batch_queries
from vitalbridge.appointment import handlers as appointment_handlers
from vitalbridge.appointment import queries as appointment_queries
from vitalbridge.appointment import read_model_queries as appointment_read_model_queries
from vitalbridge.appointment import read_models as appointment_read_models
from vitalbridge.appointment import reminders as appointment_reminders
from vitalbridge.appointment import subscribers as appointment_subscribers
from vitalbridge.appointment import visit_figures as appointment_visit_figures
from vitalbridge.db import build_database
from vitalbridge.messaging import audit_trail, delivery_health, feed, sync_status
from vitalbridge.messaging.broker import build_publisher
from vitalbridge.messaging.bus import CommandBus, QueryBus
from vitalbridge.messaging.messages import Query
from vitalbridge.messaging.read_models import ReadModel, subscriber_of
from vitalbridge.messaging.signals import EventSignals
from vitalbridge.messaging.subscribers import Subscriber, broker_subscriber, connect
from vitalbridge.patient import handlers as patient_handlers
from vitalbridge.patient import queries as patient_queries
from vitalbridge.provider import handlers as provider_handlers
from vitalbridge.provider import queries as provider_queries
from vitalbridge.reconciliation import handlers as reconciliation_handlers
from vitalbridge.reporting import metrics_queries as reporting_metrics_queries
from vitalbridge.reporting import queries as reporting_queries
from vitalbridge.reporting.read_models import ProviderDays, ReportWindow
from vitalbridge.schedule import handlers as schedule_handlers
from vitalbridge.schedule import queries as schedule_queries
from vitalbridge.services import Services
from vitalbridge.tenant import handlers as tenant_handlers
from vitalbridge.tenant import queries as tenant_queries
from vitalbridge.tenant import subscribers as tenant_subscribers

# (handlers module, query handlers, subscribers) of each domain, in one explicit list.
DOMAINS: list[tuple[ModuleType, Mapping[type[Query], Any], Iterable[Subscriber]]] = [
    (tenant_handlers, tenant_queries.QUERY_HANDLERS, tenant_subscribers.SUBSCRIBERS),
    (provider_handlers, provider_queries.QUERY_HANDLERS, ()),
    (patient_handlers, patient_queries.QUERY_HANDLERS, ()),
    (schedule_handlers, schedule_queries.QUERY_HANDLERS, ()),
    (appointment_handlers, appointment_queries.QUERY_HANDLERS
     | appointment_batch_queries.QUERY_HANDLERS | appointment_read_model_queries.QUERY_HANDLERS
     | appointment_visit_figures.QUERY_HANDLERS,
     appointment_subscribers.SUBSCRIBERS),
    (appointment_reminders, appointment_reminders.QUERY_HANDLERS, ()),
    (reconciliation_handlers, {}, ()),
    (delivery_health, delivery_health.QUERY_HANDLERS, ()),
]


def read_models(settings: Settings) -> tuple[ReadModel, ...]:
    """Every read model, each kept by its own relay subscriber."""
    window = ReportWindow(settings.report_window_past_days, settings.report_window_future_days)
    return (*appointment_read_models.READ_MODELS, ProviderDays(window))


def bootstrap(settings: Settings) -> Services:
    """Build the database, the buses and the event signals, and register every domain."""
    db = build_database(settings)
    commands, queries, signals = CommandBus(db), QueryBus(db), EventSignals()
    core_queries: tuple[Mapping[Any, Any], ...] = (
        feed.QUERY_HANDLERS, audit_trail.QUERY_HANDLERS, sync_status.QUERY_HANDLERS,
        reporting_queries.QUERY_HANDLERS, reporting_metrics_queries.QUERY_HANDLERS)
    for core in core_queries:
        for query_type, query_handler in core.items():
            queries.register(query_type, query_handler)
    for handlers, query_handlers, subscribers in DOMAINS:
        for command_type, handler in handlers.COMMAND_HANDLERS.items():
            commands.register(command_type, handler)
        for name, error in getattr(handlers, "CONSTRAINT_ERRORS", {}).items():
            commands.register_constraint(name, error)
        for query_type, query_handler in query_handlers.items():
            queries.register(query_type, query_handler)
        for subscriber in subscribers:
            connect(subscriber, signals, db)
    models = read_models(settings)
    for read_model in models:
        connect(subscriber_of(read_model, queries), signals, db)
    publisher = build_publisher(settings.event_broker_url) if settings.event_broker_url else None
    if publisher is not None:
        connect(broker_subscriber(publisher), signals, db)
    return Services(settings=settings, db=db, commands=commands, queries=queries,
                    signals=signals, publisher=publisher, read_models=models)
