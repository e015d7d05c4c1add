"""Read your writes over HTTP: Consistency-Token on command replies, waited for by queries.

A command's 2xx reply carries ``Consistency-Token``. A query answered from read models,
sent with it, first waits (``Prefer: wait=<seconds>``, RFC 7240: default 2, at most 10)
until those read models have applied every change the token covers, then reads; if they
do not catch up in time it answers 503 not-yet-consistent with ``Retry-After``. A query
without the header never waits.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from flask import request
from marshmallow import Schema, fields, validate

from vitalbridge.http.auth import current_principal
from vitalbridge.http.render import UtcDateTime
from vitalbridge.messaging.consistency import ConsistencyToken, MalformedToken, wait_until_applied
from vitalbridge.messaging.errors import DomainError
from vitalbridge.messaging.read_models import BEHIND, CURRENT, REBUILDING, Freshness, ReadModel
from vitalbridge.services import services

CONSISTENCY_HEADER = "Consistency-Token"
DEFAULT_WAIT, LONGEST_WAIT = 2.0, 10.0
RETRY_AFTER_SECONDS = 1
_WAIT = re.compile(r"(?:^|[;,])\s*wait\s*=\s*\"?([0-9]{1,6})\"?\s*(?=$|[;,])", re.IGNORECASE)


class InvalidConsistencyToken(DomainError):
    """The Consistency-Token is not one this server wrote for the asker's tenant."""

    status = 400
    type = "invalid-consistency-token"
    title = "Bad Request"


class NotYetConsistent(DomainError):
    """The read models had not applied the token's changes when the wait ran out."""

    status = 503
    type = "not-yet-consistent"
    title = "Service Unavailable"
    headers: ClassVar[dict[str, str]] = {"Retry-After": str(RETRY_AFTER_SECONDS)}


def token_header(written_at: datetime | None) -> dict[str, str]:
    """The Consistency-Token header of a command reply (none if nothing was written)."""
    if written_at is None:
        return {}
    principal = current_principal()
    token = ConsistencyToken(tenant_id=principal.scope, written_at=written_at)
    return {CONSISTENCY_HEADER: token.encode()}


def await_read_models(models: Sequence[ReadModel]) -> None:
    """Honour the request's Consistency-Token for ``models`` (nothing without one).

    The request's read transaction (its key check's) ends first: its snapshot predates
    the wait. The view's questions after this get a new one that sees what was waited for.
    """
    value = request.headers.get(CONSISTENCY_HEADER)
    if value is None:
        return
    token = _token(value)
    svc = services()
    svc.queries.end_reading()
    if not wait_until_applied(svc.db, token, models, requested_wait()):
        raise NotYetConsistent(
            "The read models behind this answer have not yet applied the changes of "
            "the Consistency-Token; retry, or send Prefer: wait=<seconds> (at most 10).")


def _token(value: str) -> ConsistencyToken:
    try:
        token = ConsistencyToken.decode(value.strip())
    except MalformedToken:
        token = None
    if token is None or token.tenant_id != current_principal().scope:
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


def meta(freshness: Freshness) -> dict[str, Any]:
    """The ``meta`` object of an answer."""
    return freshness.to_json()
