"""The unit of work commits a change with its events and audit row, or nothing (acc. 2)."""

import uuid
from dataclasses import dataclass
from typing import ClassVar

import pytest
from sqlalchemy import text

from vitalbridge import create_app
from vitalbridge.messaging.messages import Ack, Command, Event, Principal, Role
from vitalbridge.messaging.uow import CommandContext
from vitalbridge.tenant.messages import CreateTenant


@dataclass(frozen=True, kw_only=True)
class ExplodingCommand(Command):
    """Writes a domain row, raises an event, then fails."""


@dataclass(frozen=True, kw_only=True)
class Exploded(Event):
    type: ClassVar[str] = "test.exploded"
    aggregate_type: ClassVar[str] = "tenant"


def explode(cmd, uow):
    tenant_id = uuid.uuid4()
    uow.session.execute(text(
        "INSERT INTO tenants (id, name, slug, timezone) VALUES (:id, 'x', 'boom', 'UTC')"),
        {"id": tenant_id})
    uow.emit(Exploded(tenant_id=tenant_id, aggregate_id=tenant_id))
    uow.session.flush()
    raise RuntimeError("handler failed after raising events")


@pytest.fixture
def isolated_app(owner_url):
    app = create_app(database_url=owner_url, env="testing")
    app.extensions["vitalbridge"].commands.register(ExplodingCommand, explode)
    yield app
    app.extensions["vitalbridge"].db.dispose()


def counts(owner_engine):
    with owner_engine.connect() as conn:
        return {table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("tenants", "outbox", "audit_log", "idempotency_keys")}


def test_a_failing_handler_leaves_no_row_no_event_no_audit(isolated_app, owner_engine):
    bus = isolated_app.extensions["vitalbridge"].commands
    with isolated_app.app_context(), pytest.raises(RuntimeError):
        bus.dispatch(ExplodingCommand(), CommandContext(principal=Principal.system()))
    assert counts(owner_engine) == dict.fromkeys(
        ("tenants", "outbox", "audit_log", "idempotency_keys"), 0)


def test_a_successful_command_writes_change_event_and_audit_together(app, owner_engine):
    principal = Principal(role=Role.PLATFORM_ADMIN, key_id=uuid.uuid4())
    context = CommandContext(principal=principal, request_id="req-42", correlation_id="corr-7")
    with app.app_context():
        ack = app.extensions["vitalbridge"].commands.dispatch(
            CreateTenant(name="Harbor", slug="harbor", timezone="UTC"), context)
    assert isinstance(ack, Ack)
    with owner_engine.connect() as conn:
        event = conn.execute(text("SELECT envelope FROM outbox")).scalar_one()
        audit = conn.execute(text("SELECT * FROM audit_log")).one()
    assert set(event) == {"id", "type", "version", "occurred_at", "tenant_id", "aggregate_type",
                          "aggregate_id", "actor", "correlation_id", "causation_id", "data"}
    assert event["type"] == "tenant.created"
    assert event["version"] == 1
    assert event["occurred_at"].endswith("Z")
    assert event["actor"] == {"key_id": str(principal.key_id), "role": "platform_admin"}
    assert event["correlation_id"] == "corr-7"
    assert audit.command == "CreateTenant"
    assert audit.outcome == "succeeded"
    assert audit.target_id == ack.id
    assert audit.actor_key_id == principal.key_id
    assert audit.request_id == "req-42"


def test_a_refused_command_is_audited_without_its_change(app, owner_engine):
    bus = app.extensions["vitalbridge"].commands
    context = CommandContext(principal=Principal.system())
    command = CreateTenant(name="Twin", slug="twin", timezone="UTC")
    with app.app_context():
        bus.dispatch(command, context)
        with pytest.raises(Exception, match="already in use"):
            bus.dispatch(command, context)
    with owner_engine.connect() as conn:
        outcomes = conn.execute(text(
            "SELECT outcome FROM audit_log ORDER BY occurred_at")).scalars().all()
        tenants = conn.execute(text("SELECT count(*) FROM tenants")).scalar_one()
    assert outcomes == ["succeeded", "refused:slug-taken"]
    assert tenants == 1


def test_each_command_type_has_exactly_one_handler(app):
    bus = app.extensions["vitalbridge"].commands
    with pytest.raises(RuntimeError, match="already has a handler"):
        bus.register(CreateTenant, explode)


def _listening(owner_url):
    """A psycopg connection (autocommit) that LISTENs on the relay's channel."""
    import psycopg

    from vitalbridge.messaging.uow import OUTBOX_CHANNEL

    conn = psycopg.connect(owner_url.replace("postgresql+psycopg://", "postgresql://"),
                           autocommit=True)
    conn.execute(f"LISTEN {OUTBOX_CHANNEL}")
    return conn


def test_committed_events_wake_the_relay_and_rolled_back_ones_do_not(
        app, isolated_app, owner_url):
    listener = _listening(owner_url)
    try:
        with pytest.raises(RuntimeError):
            isolated_app.extensions["vitalbridge"].commands.dispatch(
                ExplodingCommand(), CommandContext(principal=Principal.system()))
        assert list(listener.notifies(timeout=0.5)) == []
        with app.app_context():
            app.extensions["vitalbridge"].commands.dispatch(
                CreateTenant(name="Wake", slug="wake-up", timezone="UTC"),
                CommandContext(principal=Principal(role=Role.PLATFORM_ADMIN)))
        woken = list(listener.notifies(timeout=2, stop_after=1))
        assert [note.channel for note in woken] == ["outbox"]
    finally:
        listener.close()
