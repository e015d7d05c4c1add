"""Read your writes: the Consistency-Token of a command's reply, and waiting for it.

A token names the tenant and the instant (by the database's clock) its command wrote
its last row. A query sent with it is answered once every read model it reads has no
waiting event that was committed at or before that instant (read_models.Freshness):
that covers the command and every command committed before it. It also carries the
primary's WAL position after the commit: a query served by a replica waits for the
replica to have replayed that far (messaging/replica.py).
"""

from __future__ import annotations

import base64
import binascii
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from vitalbridge.db import Database, begin_read_only
from vitalbridge.messaging.read_models import ReadModel, measure
from vitalbridge.messaging.replica import position_now

VERSION = "1"
MAX_TOKEN_LENGTH = 200
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
FIRST_PAUSE, LONGEST_PAUSE = 0.01, 0.2  # seconds between checks, doubling


class MalformedToken(ValueError):
    """The header is not a token this server issued."""


@dataclass(frozen=True)
class ConsistencyToken:
    """What a reader must see: the tenant's changes up to ``written_at`` (and ``lsn``)."""

    tenant_id: uuid.UUID
    written_at: datetime
    lsn: str | None = None

    def encode(self) -> str:
        """The opaque header value (URL-safe base64, no padding)."""
        micros = (self.written_at - _EPOCH) // _MICROSECOND
        parts = [VERSION, self.tenant_id.hex, str(micros), *([self.lsn] if self.lsn else [])]
        return base64.urlsafe_b64encode(".".join(parts).encode()).rstrip(b"=").decode()

    @classmethod
    def decode(cls, value: str) -> ConsistencyToken:
        """Read a header value; MalformedToken unless it is one this server writes."""
        if not 0 < len(value) <= MAX_TOKEN_LENGTH or not value.isascii():
            raise MalformedToken("not a consistency token")
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("ascii")
            version, tenant, micros, *rest = raw.split(".")
            if version != VERSION or len(rest) > 1 or not micros.isdigit():
                raise MalformedToken("not a consistency token")
            return cls(tenant_id=uuid.UUID(hex=tenant),
                       written_at=_EPOCH + int(micros) * _MICROSECOND,
                       lsn=rest[0] if rest else None)
        except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError) as bad:
            raise MalformedToken("not a consistency token") from bad


@dataclass(frozen=True)
class Applied:
    """The read models covered the token; ``lsn``: the primary's WAL position then (past
    the rows they wrote), when asked for, for a replica to replay before it answers."""

    lsn: str | None = None


def wait_until_applied(db: Database, token: ConsistencyToken, models: Sequence[ReadModel],
                       timeout: float, *, position: bool = False) -> Applied | None:
    """Wait up to ``timeout`` seconds for ``models`` to cover ``token``; None if they do not.

    Short polls with a doubling pause, each in its own read-only transaction on the
    primary (a snapshot taken before the wait would never see the progress). The relay
    commits a read model's rows before it marks their events delivered, so a check that
    passes means the rows are there.
    """
    deadline = time.monotonic() + timeout
    pause = FIRST_PAUSE
    while True:
        applied = _covered(db, token, models, position)
        if applied is not None:
            return applied
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        time.sleep(min(pause, remaining))
        pause = min(pause * 2, LONGEST_PAUSE)


def _covered(db: Database, token: ConsistencyToken, models: Sequence[ReadModel],
             position: bool) -> Applied | None:
    with db.sessions() as session, session.begin():
        begin_read_only(session, token.tenant_id)
        if not measure(session, models).covers(token.written_at):
            return None
        return Applied(lsn=position_now(session) if position else None)
