"""The in-process command and query buses.

A command has exactly one handler, in the domain that owns the data; it runs inside a
unit of work. A query handler runs in a READ ONLY transaction (on the replica when one
is configured) and returns plain data, so a query that tries to write fails loudly.
Several queries asked inside ``QueryBus.reading`` share one such transaction; an HTTP
request opens one for its key check and its questions, and ends it before a command.
Inside ``QueryBus.demanding`` (a request with a Consistency-Token) a read goes to the
replica only once it has replayed the token's position (messaging/replica.py). A replica
that cannot be reached sends the reads to the primary, for REPLICA_RETRY_SECONDS.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from vitalbridge.db import Database, begin_read_only, set_tenant
from vitalbridge.messaging import idempotency
from vitalbridge.messaging.errors import DomainError, NotYetConsistent
from vitalbridge.messaging.messages import Ack, Command, Principal, Query
from vitalbridge.messaging.replica import (
    FIRST_PAUSE,
    LONGEST_PAUSE,
    ReplicaDemand,
    has_replayed,
)
from vitalbridge.messaging.uow import CommandContext, UnitOfWork, record_audit

log = logging.getLogger(__name__)

CommandHandler = Callable[[Any, UnitOfWork], Ack]
QueryHandler = Callable[[Any, "ReadContext"], Any]
ConstraintError = Callable[[Command], DomainError]


@dataclass(frozen=True)
class ReadContext:
    """What a query handler gets: a read-only session scoped to the asker's tenant."""

    session: Session
    principal: Principal


class CommandBus:
    """Routes each command type to its one handler, inside a unit of work."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._handlers: dict[type[Command], CommandHandler] = {}
        self._constraint_errors: dict[str, ConstraintError] = {}

    def register(self, command_type: type[Command], handler: CommandHandler) -> None:
        """Register the owning domain's handler; a second handler is a wiring bug."""
        if command_type in self._handlers:
            raise RuntimeError(f"{command_type.__name__} already has a handler")
        self._handlers[command_type] = handler

    def register_constraint(self, name: str, error: ConstraintError) -> None:
        """Say which business rule a database constraint enforces.

        Constraints are the last word under concurrency (two requests that both passed
        the handler's checks); their violation becomes the rule's 4xx, never a 500.
        """
        self._constraint_errors[name] = error

    def dispatch(self, command: Command, context: CommandContext) -> Ack:
        """Run ``command`` in one transaction; refused commands leave an audit row.

        A claimed idempotency key keeps the command's answer: its acknowledgement, or
        the problem a handler refused it with (see ``idempotency.keeps``). Any other
        failure releases the key, so that a retry runs the command again.
        """
        try:
            return self._run(command, context)
        except DomainError as refused:
            self._refused(command, context, refused)
            raise
        except BaseException:
            self._release(context)
            raise

    def audit_refused_operation(self, context: CommandContext, operation: str,
                                target_id: uuid.UUID | None, refused: DomainError) -> None:
        """Audit an operation refused before its command was made (the key's role may
        not do it): the trail shows the attempt as it shows a handler's refusals."""
        with self._db.sessions() as session, session.begin():
            set_tenant(session, context.principal.scope)
            record_audit(session, context, operation, target_id, f"refused:{refused.type}")

    def _run(self, command: Command, context: CommandContext) -> Ack:
        handler = self._handlers[type(command)]
        try:
            with UnitOfWork(self._db.sessions, context, command,
                            record_position=self._db.replica is not self._db.engine) as uow:
                ack = handler(command, uow)
                uow.commit(ack)
                return dataclasses.replace(ack, written_at=uow.written_at,
                                           commit_lsn=uow.commit_lsn)
        except IntegrityError as violation:
            rule = self._constraint_errors.get(_constraint_name(violation))
            if rule is None:
                raise
            raise rule(command) from violation

    def _release(self, context: CommandContext) -> None:
        if context.idempotency is not None:
            idempotency.release(self._db.sessions, context.idempotency)

    def _refused(self, command: Command, context: CommandContext,
                 refused: DomainError) -> None:
        """Audit a refusal; a claimed key keeps it as its answer, or is released."""
        try:
            kept = self._audit_refusal(command, context, refused)
        except BaseException:
            self._release(context)  # nothing was stored: a retry runs the command again
            raise
        if not kept:
            self._release(context)

    def _audit_refusal(self, command: Command, context: CommandContext,
                       refused: DomainError) -> bool:
        """Write the refusal's audit row and, in the same transaction, the key's answer.

        Returns whether the key keeps the refusal as its answer.
        """
        problem = _problem_to_keep(context, refused)
        # Both rows live in the principal's scope, which is the tenant the claim was
        # taken in (the platform scope for a platform key): row-level security admits
        # both, and they commit together or not at all.
        with self._db.sessions() as session, session.begin():
            set_tenant(session, context.principal.scope)
            record_audit(session, context, type(command).__name__,
                         command.target_id(context.principal), f"refused:{refused.type}")
            if problem is None or context.idempotency is None:
                return False
            return idempotency.keep_refusal(session, context.idempotency, problem)


def _problem_to_keep(context: CommandContext,
                     refused: DomainError) -> idempotency.Problem | None:
    """The answer a claimed key keeps for ``refused``, or None to release the claim."""
    if (context.idempotency is None or context.describe_refusal is None
            or not idempotency.keeps(refused)):
        return None
    return context.describe_refusal(refused)


def _constraint_name(error: IntegrityError) -> str:
    diag = getattr(error.orig, "diag", None)
    return getattr(diag, "constraint_name", None) or ""


class QueryBus:
    """Routes each query type to its handler, in a read-only, tenant-scoped transaction."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._handlers: dict[type[Query], QueryHandler] = {}
        self.replica_down_until = 0.0  # time.monotonic(); before it reads go to the primary

    def register(self, query_type: type[Query], handler: QueryHandler) -> None:
        """Register the owning domain's query handler."""
        if query_type in self._handlers:
            raise RuntimeError(f"{query_type.__name__} already has a handler")
        self._handlers[query_type] = handler

    def ask(self, query: Query, principal: Principal) -> Any:
        """Answer ``query`` as ``principal`` sees the data."""
        handler = self._handlers[type(query)]
        scope = _read_scope.get()
        if scope is not None and scope.serves(query, principal):
            return handler(query, scope.context_for(principal))
        with self._transaction(principal, primary=query.reads_primary) as context:
            return handler(query, context)

    def answer_in(self, query: Query, ctx: ReadContext) -> Any:
        """Answer ``query`` inside a transaction the caller holds (a read model's refresh,
        which must read the primary's current state in its own writing transaction)."""
        return self._handlers[type(query)](query, ctx)

    @contextlib.contextmanager
    def reading(self, principal: Principal, *, primary: bool = False) -> Iterator[None]:
        """Answer the asks inside the block from one read-only transaction.

        One snapshot for a request that asks several questions (across domains), and one
        connection checkout and transaction instead of one per question. It serves every
        asker in the same tenant (row-level security sees only the tenant; each handler
        still gets its own asker). A query that must read the primary still gets its own
        transaction inside a replica scope. Inside a scope that already covers it, this
        opens nothing.
        """
        current = _read_scope.get()
        if current is not None and current.covers(principal, primary):
            yield
            return
        with contextlib.ExitStack() as stack:
            context = stack.enter_context(self._transaction(principal, primary=primary))
            token = _read_scope.set(_ReadScope(context, primary, stack))
            try:
                yield
            finally:
                _read_scope.reset(token)

    def reading_in_tenant(self, tenant_id: uuid.UUID | None) -> AbstractContextManager[None]:
        """A read scope for a whole request in one tenant, starting with its key check.

        The key check reads the primary (a revoked key must stop at once). With a replica
        configured the request's other questions belong there, so nothing is opened.
        """
        if self._db.replica is not self._db.engine:
            return contextlib.nullcontext()
        return self.reading(Principal.system(tenant_id), primary=True)

    @contextlib.contextmanager
    def demanding(self, demand: ReplicaDemand) -> Iterator[ReplicaDemand]:
        """Hold every read inside the block to ``demand`` (a request's Consistency-Token).

        A read the replica would serve first waits until it has replayed ``demand.lsn``
        (or the deadline passes: then this and every later read of the block go to the
        primary, or ``demand.refuse`` makes it 503). Reads that go to the primary anyway
        are unaffected.
        """
        token = _demand.set(demand)
        try:
            yield demand
        finally:
            _demand.reset(token)

    @contextlib.contextmanager
    def on_primary(self) -> Iterator[None]:
        """Every read inside the block from the primary.

        For a process that reads back what it has just written and holds no
        Consistency-Token for it (a CLI command such as the demo seed): a replica may not
        have replayed the write yet, and would answer as if it had never happened.
        """
        with self.demanding(ReplicaDemand(lsn=None, deadline=0.0, refuse=False)):
            yield

    def demand(self) -> ReplicaDemand | None:
        """The demand the current reads are held to, if any (to raise its position)."""
        return _demand.get()

    def end_reading(self) -> None:
        """End the current read scope's transaction now (before a command runs).

        A command then holds one connection, not two, and asks after it get transactions
        of their own, which see what it committed.
        """
        scope = _read_scope.get()
        if scope is not None:
            scope.end()

    @contextlib.contextmanager
    def _transaction(self, principal: Principal, *, primary: bool) -> Iterator[ReadContext]:
        with self._read_session(primary) as session:
            begin_read_only(session, principal.scope)
            yield ReadContext(session=session, principal=principal)

    @contextlib.contextmanager
    def _read_session(self, primary: bool) -> Iterator[Session]:
        """A session inside its transaction: on the replica when it may answer, else the
        primary. One snapshot for every statement of the transaction: a view composed of
        several domains' answers (a report, a schedule) never mixes two moments."""
        if not primary and self._db.has_replica:
            with contextlib.ExitStack() as stack:
                session = self._replica_session(stack)
                if session is not None:
                    yield session
                    return
        with self._db.sessions() as session, session.begin():
            session.connection(execution_options=READ_SNAPSHOT)
            yield session

    def _replica_session(self, stack: contextlib.ExitStack) -> Session | None:
        """A replica session that may answer the current demand, or None: read the primary
        (the demand's wait ran out, or the replica cannot be reached).

        While it waits for the replica to replay the demand's position, the request holds
        no connection between checks (a lagging replica must not drain the pool); the
        check that passes is made on the connection that then answers.
        """
        demand = _demand.get()
        if (demand is not None and demand.on_primary) or time.monotonic() < self.replica_down_until:
            return None
        pause = FIRST_PAUSE
        while True:
            session = self._db.read_sessions()
            session.begin()
            connection: Connection | None = None
            try:
                connection = session.connection(execution_options=READ_SNAPSHOT)
                if demand is None or demand.lsn is None or has_replayed(connection, demand.lsn):
                    return stack.enter_context(session)  # its close rolls back
            except (OperationalError, psycopg.OperationalError) as error:
                self._replica_unreachable(session, connection, error, demand)
                return None
            session.close()
            remaining = demand.deadline - time.monotonic()
            if remaining <= 0:
                break
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, LONGEST_PAUSE)
        if demand.refuse:
            raise NotYetConsistent(
                "The replica had not replayed the Consistency-Token's changes within the "
                "wait; retry, or send Prefer: wait=<seconds> (at most 10).")
        demand.on_primary = True
        return None

    def _replica_unreachable(self, session: Session, connection: Connection | None,
                             error: Exception, demand: ReplicaDemand | None) -> None:
        """Connection refused, or lost while checking: the primary answers meanwhile."""
        self.replica_down_until = time.monotonic() + REPLICA_RETRY_SECONDS
        log.warning("replica unreachable, queries read the primary for %s s: %s",
                    REPLICA_RETRY_SECONDS, type(error).__name__)
        if connection is not None:
            connection.invalidate()  # lost during a check: a driver error SQLAlchemy missed
        session.close()
        if demand is not None:
            demand.on_primary = True


@dataclass
class _ReadScope:
    """The transaction ``QueryBus.reading`` opened, for whom, and whether it has ended."""

    context: ReadContext
    primary: bool
    transaction: contextlib.ExitStack
    ended: bool = False

    def serves(self, query: Query, principal: Principal) -> bool:
        """Whether ``query`` asked by ``principal`` may be answered from this transaction."""
        return self.covers(principal, query.reads_primary)

    def covers(self, principal: Principal, primary: bool) -> bool:
        """Whether this transaction reads what ``principal`` would see, where it must."""
        return (not self.ended and principal.scope == self.context.principal.scope
                and (self.primary or not primary))

    def context_for(self, principal: Principal) -> ReadContext:
        """This transaction, for a handler answering ``principal``."""
        if principal == self.context.principal:
            return self.context
        return ReadContext(session=self.context.session, principal=principal)

    def end(self) -> None:
        """Commit and return the connection; the block that opened it then closes nothing."""
        self.ended = True
        self.transaction.close()


_read_scope: ContextVar[_ReadScope | None] = ContextVar("read_scope", default=None)
_demand: ContextVar[ReplicaDemand | None] = ContextVar("replica_demand", default=None)
# How long reads stay on the primary after the replica could not be reached.
REPLICA_RETRY_SECONDS = 5.0

# Queries read at REPEATABLE READ: a read-only transaction there never fails or waits,
# and all its statements see the same committed state.
READ_SNAPSHOT = {"isolation_level": "REPEATABLE READ"}
