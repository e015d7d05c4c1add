"""Read your writes over HTTP: Consistency-Token on command replies, waited for by queries.

A command's 2xx reply carries ``Consistency-Token``. A query sent with it may wait
(``Prefer: wait=<seconds>``, RFC 7240: default 2, at most 10, for the whole request):
one answered from read models until those read models have applied every change the
token covers, else 503 not-yet-consistent with ``Retry-After``; with a replica, every
read of the request until the replica has replayed the token's commit (and the read
models' rows), else the primary answers (or 503, REPLICA_CATCH_UP_FALLBACK=503). A
query without the header never waits, and reads the replica whatever its lag.
"""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import g, request
from marshmallow import Schema, fields, validate

from vitalbridge.http.render import UtcDateTime
from vitalbridge.messaging.consistency import ConsistencyToken, MalformedToken, wait_until_applied
from vitalbridge.messaging.errors import DomainError, NotYetConsistent
from vitalbridge.messaging.read_models import BEHIND, CURRENT, REBUILDING, Freshness, ReadModel
from vitalbridge.messaging.replica import ReplicaDemand
from vitalbridge.services import services

CONSISTENCY_HEADER = "Consistency-Token"
DEFAULT_WAIT, LONGEST_WAIT = 2.0, 10.0
REFUSE = "503"  # REPLICA_CATCH_UP_FALLBACK: refuse rather than read the primary
_WAIT = re.compile(r"(?:^|[;,])\s*wait\s*=\s*\"?([0-9]{1,6})\"?\s*(?=$|[;,])", re.IGNORECASE)


class InvalidConsistencyToken(DomainError):
    """The Consistency-Token is not one this server wrote for the asker's tenant."""

    status = 400
    type = "invalid-consistency-token"
    title = "Bad Request"


def token_header(tenant_id: uuid.UUID, written_at: datetime | None,
                 lsn: str | None = None) -> dict[str, str]:
    """The Consistency-Token header of a command reply (none if nothing was written)."""
    if written_at is None:
        return {}
    token = ConsistencyToken(tenant_id=tenant_id, written_at=written_at, lsn=lsn)
    return {CONSISTENCY_HEADER: token.encode()}


@dataclass(frozen=True)
class _HeldToken:
    """The request's token, and until when (time.monotonic()) the request may wait."""

    token: ConsistencyToken
    deadline: float


@contextlib.contextmanager
def honoured_token(tenant_id: uuid.UUID, method: str) -> Iterator[None]:
    """Hold a query request (GET, HEAD) to its Consistency-Token, if it sent one.

    A malformed or another tenant's token is 400. The ``Prefer: wait`` starts now, for
    the read models and the replica both. With a replica, every read of the request
    waits for it to have replayed the token's commit, or goes to the primary.
    A command (any other method) reads the primary only: it decides on what it reads
    (a provider's state, a resource's existence), and a lagging replica would have it
    refuse a provider added a moment ago (404) or act on a state already gone.
    """
    value = request.headers.get(CONSISTENCY_HEADER)
    if method not in ("GET", "HEAD"):
        with _on_the_primary():
            yield
        return
    if value is None:
        yield
        return
    held = _HeldToken(_token(value, tenant_id), time.monotonic() + requested_wait())
    g.consistency_token = held
    svc = services()
    if not svc.db.has_replica:
        yield
        return
    demand = ReplicaDemand(lsn=held.token.lsn, deadline=held.deadline,
                           refuse=svc.settings.replica_catch_up_fallback == REFUSE)
    with svc.queries.demanding(demand):
        yield


@contextlib.contextmanager
def _on_the_primary() -> Iterator[None]:
    """Every read inside the block from the primary (nothing to do without a replica)."""
    svc = services()
    if not svc.db.has_replica:
        yield
        return
    with svc.queries.demanding(ReplicaDemand(lsn=None, deadline=0.0, refuse=False)):
        yield


def await_read_models(models: Sequence[ReadModel]) -> None:
    """Honour the request's Consistency-Token for ``models`` (nothing without one).

    The request's read transaction (its key check's) ends first: its snapshot predates
    the wait. The view's questions after this get a new one that sees what was waited for.
    With a replica, the replica must then have replayed what the read models wrote too.
    """
    held: _HeldToken | None = g.get("consistency_token")
    if held is None:
        return
    svc = services()
    svc.queries.end_reading()
    demand = svc.queries.demand()
    applied = wait_until_applied(svc.db, held.token, models,
                                 max(held.deadline - time.monotonic(), 0.0),
                                 position=demand is not None)
    if applied is None:
        raise NotYetConsistent(
            "The read models behind this answer have not yet applied the changes of "
            "the Consistency-Token; retry, or send Prefer: wait=<seconds> (at most 10).")
    if demand is not None:
        demand.raise_to(applied.lsn)


def _token(value: str, tenant_id: uuid.UUID) -> ConsistencyToken:
    try:
        token = ConsistencyToken.decode(value.strip())
    except MalformedToken:
        token = None
    if token is None or token.tenant_id != tenant_id:
        raise InvalidConsistencyToken(
            "The Consistency-Token is not one this server gave this tenant.",
            errors={CONSISTENCY_HEADER: ["Send the header of a command reply as it came."]})
    return token


def requested_wait() -> float:
    """Seconds the client lets the server wait (``Prefer: wait=``), within 0..10."""
    found = _WAIT.search(request.headers.get("Prefer", ""))
    return min(float(found.group(1)), LONGEST_WAIT) if found else DEFAULT_WAIT


class MetaSchema(Schema):
    """How fresh a read-model answer is (shared/API.md, Read models and consistency)."""

    as_of = UtcDateTime(required=True, metadata={
        "description": "Every change committed before this instant is reflected (with "
                       "nothing waiting: the moment of the answer)."})
    status = fields.String(required=True, validate=validate.OneOf(
        [CURRENT, BEHIND, REBUILDING]), metadata={
        "description": "current: no event the answer depends on is waiting; behind: some "
                       "are (lag_seconds is the oldest one's age); rebuilding: a rebuild "
                       "runs, the answer comes from the previous copy."})
    lag_seconds = fields.Float(required=True, metadata={
        "description": "Age of the oldest change not yet reflected; 0 when none waits."})
    replica_lag_seconds = fields.Float(metadata={
        "description": "Only in an answer a replica served: how far its replay is behind "
                       "the primary (now minus its last replayed commit; 0: it has "
                       "replayed all it received). It counts in as_of, status and "
                       "lag_seconds too."})


def meta(freshness: Freshness) -> dict[str, Any]:
    """The ``meta`` object of an answer."""
    return freshness.to_json()
