"""The query bus: read-only, tenant-scoped transactions, shared inside ``reading``."""

import uuid
from dataclasses import dataclass
from typing import ClassVar

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import InternalError

from vitalbridge import create_app
from vitalbridge.messaging.messages import Principal, Query, Role


@dataclass(frozen=True, kw_only=True)
class WhereAmI(Query):
    """The backend, transaction start and tenant the handler's transaction runs in."""


@dataclass(frozen=True, kw_only=True)
class WhereAmIOnPrimary(WhereAmI):
    reads_primary: ClassVar[bool] = True


@dataclass(frozen=True, kw_only=True)
class TryToWrite(Query):
    """A query that (wrongly) writes."""


def where_am_i(query, ctx):
    return ctx.session.execute(text(
        "SELECT pg_backend_pid(), now(), current_setting('app.tenant_id'), "
        "current_setting('transaction_read_only'), current_setting('TimeZone')")).one()


def try_to_write(query, ctx):
    ctx.session.execute(text("CREATE TEMP TABLE scratch (x int)"))


@pytest.fixture
def bus(owner_url):
    app = create_app(database_url=owner_url, env="testing")
    queries = app.extensions["vitalbridge"].queries
    queries.register(WhereAmI, where_am_i)
    queries.register(WhereAmIOnPrimary, where_am_i)
    queries.register(TryToWrite, try_to_write)
    yield queries
    app.extensions["vitalbridge"].db.dispose()


def asker(tenant_id=None):
    return Principal(role=Role.STAFF, tenant_id=tenant_id or uuid.uuid4(), key_id=uuid.uuid4())


def test_each_ask_alone_has_its_own_read_only_tenant_scoped_transaction(bus):
    principal = asker()
    first, second = bus.ask(WhereAmI(), principal), bus.ask(WhereAmI(), principal)
    assert first[1] != second[1]  # two transactions (now() is the transaction's start)
    assert first[2] == str(principal.tenant_id)
    assert first[3] == "on"


def test_sessions_run_in_utc(bus):
    # Timestamps then arrive as datetime.UTC (fast in psycopg and the calendar), and a
    # naive time given to SQL (outbox replay --since) means UTC, as the README says.
    assert bus.ask(WhereAmI(), asker())[4] == "UTC"


def test_asks_inside_reading_share_one_transaction(bus):
    principal = asker()
    with bus.reading(principal):
        first, second = bus.ask(WhereAmI(), principal), bus.ask(WhereAmI(), principal)
    assert first == second
    assert first[3] == "on"


def test_another_principal_inside_reading_gets_its_own_transaction(bus):
    mine, theirs = asker(), asker()
    with bus.reading(mine):
        scoped, other = bus.ask(WhereAmI(), mine), bus.ask(WhereAmI(), theirs)
    assert other[2] == str(theirs.tenant_id)
    assert other[1] != scoped[1]


def test_a_primary_query_leaves_a_replica_scope(bus):
    principal = asker()
    with bus.reading(principal):
        scoped, primary = bus.ask(WhereAmI(), principal), bus.ask(WhereAmIOnPrimary(), principal)
    assert primary[1] != scoped[1]
    with bus.reading(principal, primary=True):
        scoped, primary = bus.ask(WhereAmI(), principal), bus.ask(WhereAmIOnPrimary(), principal)
    assert primary == scoped


def test_a_query_that_writes_fails_inside_a_scope_too(bus):
    principal = asker()
    with pytest.raises(InternalError, match="read-only transaction"), bus.reading(principal):
        bus.ask(TryToWrite(), principal)
    with pytest.raises(InternalError, match="read-only transaction"):
        bus.ask(TryToWrite(), principal)


def test_the_scope_ends_with_its_block(bus):
    principal = asker()
    with bus.reading(principal):
        inside = bus.ask(WhereAmI(), principal)
    assert bus.ask(WhereAmI(), principal)[1] != inside[1]


def test_a_scope_serves_every_asker_in_its_tenant_each_as_itself(bus):
    tenant_id = uuid.uuid4()
    opener, other = asker(tenant_id), asker(tenant_id)
    seen = []
    bus.register(WhoAsks, lambda query, ctx: seen.append(ctx.principal))
    with bus.reading(opener):
        first, second = bus.ask(WhereAmI(), opener), bus.ask(WhereAmI(), other)
        bus.ask(WhoAsks(), other)
    assert first == second
    assert seen == [other]


def test_ending_a_scope_early_gives_later_asks_their_own_transactions(bus):
    principal = asker()
    with bus.reading(principal):
        inside = bus.ask(WhereAmI(), principal)
        bus.end_reading()
        after = bus.ask(WhereAmI(), principal)
        with bus.reading(principal):  # a new scope may open after the ended one
            again = bus.ask(WhereAmI(), principal), bus.ask(WhereAmI(), principal)
    assert after[1] != inside[1]
    assert again[0] == again[1] != after


def test_a_nested_scope_that_the_outer_covers_opens_nothing(bus):
    principal = asker()
    with bus.reading(principal, primary=True):
        outer = bus.ask(WhereAmI(), principal)
        with bus.reading(principal):
            inner = bus.ask(WhereAmIOnPrimary(), principal)
    assert inner == outer


@dataclass(frozen=True, kw_only=True)
class WhoAsks(Query):
    """Records the principal its handler is given."""


@dataclass(frozen=True, kw_only=True)
class CountProbeRows(Query):
    """How many rows the (test-only) snapshot_probe table holds, as this transaction sees."""


def count_probe_rows(query, ctx):
    return ctx.session.execute(text("SELECT count(*) FROM snapshot_probe")).scalar_one()


def test_asks_inside_reading_see_one_snapshot(bus, owner_url):
    # A view composed of several answers (a report: providers, then hours, then
    # appointments) must not mix what was committed before and after one of them.
    bus.register(CountProbeRows, count_probe_rows)
    owner = create_engine(owner_url)
    with owner.begin() as conn:
        conn.execute(text("CREATE TABLE snapshot_probe (x int)"))
        conn.execute(text("GRANT SELECT ON snapshot_probe TO vitalbridge_app"))
    principal = asker()
    try:
        with bus.reading(principal):
            before = bus.ask(CountProbeRows(), principal)
            with owner.begin() as conn:
                conn.execute(text("INSERT INTO snapshot_probe VALUES (1)"))
            during = bus.ask(CountProbeRows(), principal)
        after = bus.ask(CountProbeRows(), principal)
    finally:
        with owner.begin() as conn:
            conn.execute(text("DROP TABLE snapshot_probe"))
        owner.dispose()
    assert (before, during, after) == (0, 0, 1)
