"""Idempotency keys: the first response is kept for 24 h and replayed to retries.

A record belongs to the API key that sent the request: another key of the same tenant
using the same Idempotency-Key gets a command of its own, checked for its own role.

A claim row is written in its own short transaction before the command runs, so a
concurrent second request sees it at once (409 while in flight). The response is
stored by the command's own unit of work, in the same transaction as its effect:
either both exist or neither does. A command its handler refused keeps its problem
response the same way, in the transaction of the refusal's audit row; a command that
failed otherwise releases the claim, so that a retry runs it afresh.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from vitalbridge.db import set_tenant
from vitalbridge.messaging.errors import DomainError, IdempotencyKeyInFlight, IdempotencyKeyReused
from vitalbridge.messaging.replica import WAL_POSITION_SQL

_CLAIM = text("""
INSERT INTO idempotency_keys (tenant_id, api_key_id, key, request_hash, claim_token)
VALUES (:tenant, :api_key, :key, :hash, :token)
ON CONFLICT (tenant_id, api_key_id, key) DO UPDATE
   SET request_hash = EXCLUDED.request_hash, claim_token = EXCLUDED.claim_token,
       response = NULL, created_at = now(), completed_at = NULL
 WHERE (idempotency_keys.completed_at IS NULL
        AND idempotency_keys.created_at < now() - make_interval(secs => :lock_seconds))
    OR idempotency_keys.completed_at < now() - make_interval(hours => :ttl_hours)
RETURNING claim_token
""")

_EXISTING = text(f"""
SELECT request_hash, response, clock_timestamp() AS read_at, {WAL_POSITION_SQL} AS read_lsn
  FROM idempotency_keys WHERE tenant_id = :tenant AND api_key_id = :api_key AND key = :key
""")

_COMPLETE = text("""
UPDATE idempotency_keys SET response = CAST(:response AS jsonb), completed_at = now()
 WHERE tenant_id = :tenant AND api_key_id = :api_key AND key = :key
   AND claim_token = :token
""")

_RELEASE = text("""
DELETE FROM idempotency_keys
 WHERE tenant_id = :tenant AND api_key_id = :api_key AND key = :key
   AND claim_token = :token AND completed_at IS NULL
""")


@dataclass(frozen=True)
class Claim:
    """This request owns the key: run the command, then store its response."""

    tenant_id: uuid.UUID
    api_key_id: uuid.UUID
    key: str
    token: uuid.UUID

    @property
    def params(self) -> dict[str, Any]:
        """The record's primary key and claim token, as statement parameters."""
        return {"tenant": self.tenant_id, "api_key": self.api_key_id, "key": self.key,
                "token": self.token}


@dataclass(frozen=True)
class Problem:
    """The problem response (status and body) a refused command answered."""

    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Replay:
    """The key was used before with the same request: answer what was answered then."""

    response: dict[str, Any] | Problem  # the acknowledgement's JSON, or the refusal
    # The database's clock when the replay was found: after the first request's commit,
    # so a Consistency-Token of this instant covers it.
    read_at: datetime | None = field(default=None, compare=False)
    # The primary's WAL position then, past that commit: what a replica must replay.
    read_lsn: str | None = field(default=None, compare=False)


# The refusals a retry with the same key must meet again: what the command found in the
# data (no such thing, a rule broken, a stale version) and was refused for. Running it
# again might now succeed: a second outcome for one key. Not kept: 403 and 422, which
# are about the key's role or the request's fields (a corrected request runs), and the
# in-flight 409, which is about another request holding the key.
_KEPT_STATUSES = frozenset({404, 409, 412})

# A stored refusal is {"refused": {"status": ..., "problem": {...}}}; an acknowledgement
# always has "id" and "version", so the two never look alike.
_REFUSED = "refused"


def claim(sessions: sessionmaker[Session], *, tenant_id: uuid.UUID, api_key_id: uuid.UUID,
          key: str, request_hash: str, ttl_hours: int, lock_seconds: int) -> Claim | Replay:
    """Claim ``key`` of ``api_key_id`` for this request, or say why it cannot be claimed."""
    claimed = Claim(tenant_id=tenant_id, api_key_id=api_key_id, key=key, token=uuid.uuid4())
    params = {**claimed.params, "hash": request_hash, "lock_seconds": lock_seconds,
              "ttl_hours": ttl_hours}
    with sessions() as session, session.begin():
        set_tenant(session, tenant_id)
        if session.execute(_CLAIM, params).scalar() == claimed.token:
            return claimed
        existing = session.execute(_EXISTING, params).one()
    if existing.request_hash != request_hash:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used with a different request body."
        )
    if existing.response is None:
        raise IdempotencyKeyInFlight(
            "The first request with this Idempotency-Key is still being processed."
        )
    return Replay(response=_answer(existing.response), read_at=existing.read_at,
                  read_lsn=existing.read_lsn)


def complete(session: Session, claimed: Claim, response_json: str) -> None:
    """Store the response inside the command's transaction; fail if the claim was lost."""
    if not _store(session, claimed, response_json):
        # The claim outlived IDEMPOTENCY_LOCK_SECONDS and another request took it over:
        # rolling back keeps the promise of exactly one effect.
        raise IdempotencyKeyInFlight("The idempotency claim expired while the command ran.")


def keeps(refused: DomainError) -> bool:
    """Whether a handler's refusal is the key's answer for good (else the claim goes)."""
    return refused.status in _KEPT_STATUSES and not isinstance(refused, IdempotencyKeyInFlight)


def keep_refusal(session: Session, claimed: Claim, problem: Problem) -> bool:
    """Store a refusal inside ``session``'s transaction (the refusal's audit row's).

    The session must be scoped to the claim's tenant. Returns False, storing nothing,
    when the claim was lost to a later request: the refusal stands and is audited all
    the same, but the key now belongs to that request.
    """
    stored = {_REFUSED: {"status": problem.status, "problem": problem.body}}
    return _store(session, claimed, json.dumps(stored))


def _store(session: Session, claimed: Claim, response_json: str) -> bool:
    params = {**claimed.params, "response": response_json}
    return session.execute(_COMPLETE, params).rowcount == 1  # type: ignore[attr-defined]


def _answer(stored: dict[str, Any]) -> dict[str, Any] | Problem:
    if set(stored) == {_REFUSED}:
        refused = stored[_REFUSED]
        return Problem(status=refused["status"], body=refused["problem"])
    return stored


def release(sessions: sessionmaker[Session], claimed: Claim) -> None:
    """Forget a claim whose command failed, so a retry runs it afresh."""
    with sessions() as session, session.begin():
        set_tenant(session, claimed.tenant_id)
        session.execute(_RELEASE, claimed.params)
