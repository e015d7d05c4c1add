"""The unit of work commits a change with its events and audit row, or nothing (acc. 2)."""

import uuid
from dataclasses import dataclass
from typing import ClassVar

import pytest
import sqlalchemy.exc
from sqlalchemy import text

from vitalbridge import create_app
from vitalbridge.messaging import idempotency
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


PLATFORM = Principal(role=Role.PLATFORM_ADMIN, key_id=uuid.uuid4())


def claim_key(app, key="k-1", request_hash="h"):
    return idempotency.claim(app.extensions["vitalbridge"].db.sessions,
                             tenant_id=PLATFORM.scope, api_key_id=PLATFORM.key_id,
                             key=key, request_hash=request_hash,
                             ttl_hours=24, lock_seconds=60)


def refuse_with_a_claim(app, describe):
    """Take slug "twin", then send CreateTenant for it again under a claimed key."""
    bus = app.extensions["vitalbridge"].commands
    command = CreateTenant(name="Twin", slug="twin", timezone="UTC")
    with app.app_context():
        bus.dispatch(command, CommandContext(principal=PLATFORM))
        claimed = claim_key(app)
        context = CommandContext(principal=PLATFORM, idempotency=claimed,
                                 describe_refusal=describe)
        bus.dispatch(command, context)


def refusals(owner_engine):
    with owner_engine.connect() as conn:
        audit = conn.execute(text("SELECT outcome FROM audit_log "
                                  "WHERE outcome LIKE 'refused:%'")).scalars().all()
        keys = conn.execute(text("SELECT response, completed_at IS NOT NULL "
                                 "FROM idempotency_keys")).all()
    return audit, [tuple(row) for row in keys]


def test_a_refusal_and_the_keys_answer_commit_together(app, owner_engine):
    def describe(refused):
        return idempotency.Problem(status=refused.status, body={"type": refused.type})

    with pytest.raises(Exception, match="already in use"):
        refuse_with_a_claim(app, describe)
    kept = {"refused": {"status": 409, "problem": {"type": "slug-taken"}}}
    assert refusals(owner_engine) == (["refused:slug-taken"], [(kept, True)])
    replay = claim_key(app)
    assert replay == idempotency.Replay(
        response=idempotency.Problem(status=409, body={"type": "slug-taken"}))


def test_a_refusal_whose_answer_cannot_be_stored_leaves_neither(app, owner_engine):
    """The answer fails in the audit row's transaction: no audit row, and the key is free."""
    def unstorable(refused):
        return idempotency.Problem(status=refused.status, body={"detail": "\x00"})

    with pytest.raises(sqlalchemy.exc.DataError):
        refuse_with_a_claim(app, unstorable)
    assert refusals(owner_engine) == ([], [])


def test_a_refusal_is_audited_but_not_kept_once_the_claim_was_taken_over(app, owner_engine):
    def take_over_then_describe(refused):
        with owner_engine.begin() as conn:  # a later request took the key over meanwhile
            conn.execute(text("UPDATE idempotency_keys SET claim_token = gen_random_uuid()"))
        return idempotency.Problem(status=refused.status, body={"type": refused.type})

    with pytest.raises(Exception, match="already in use"):
        refuse_with_a_claim(app, take_over_then_describe)
    assert refusals(owner_engine) == (["refused:slug-taken"], [(None, False)])


def test_a_refusal_without_a_description_releases_the_key(app, owner_engine):
    with pytest.raises(Exception, match="already in use"):
        refuse_with_a_claim(app, None)
    assert refusals(owner_engine) == (["refused:slug-taken"], [])


def test_a_failing_handler_releases_its_claimed_key(isolated_app, owner_engine):
    bus = isolated_app.extensions["vitalbridge"].commands
    context = CommandContext(principal=PLATFORM, idempotency=claim_key(isolated_app),
                             describe_refusal=lambda refused: pytest.fail("not a refusal"))
    with isolated_app.app_context(), pytest.raises(RuntimeError):
        bus.dispatch(ExplodingCommand(), context)
    assert counts(owner_engine)["idempotency_keys"] == 0


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
