"""One active process of a kind (the relay, the scheduler), elected by a PostgreSQL
session advisory lock held on a connection of its own.

Any number may run, on any host: the one holding the lock works, the others wait as
standbys and try again every poll interval. When the active one dies (SIGKILL
included) its session ends, the server releases the lock, and a standby takes it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

import psycopg
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)


@contextlib.contextmanager
def leadership(engine: Engine, key: int, *, wait: threading.Event | None,
               poll_seconds: float, role: str) -> Iterator[psycopg.Connection | None]:
    """Hold lock ``key`` on a dedicated autocommit connection while in the block.

    With ``wait`` None, try once (None if another holds it); else keep trying every
    ``poll_seconds`` until the lock is taken or ``wait`` is set (then None).
    """
    url = make_url(engine.url).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False),
                         autocommit=True) as holder:
        while not _try_lock(holder, key):
            if wait is None or wait.wait(poll_seconds):
                yield None
                return
        log.info("%s is active", role)
        try:
            yield holder
        finally:
            # Unlock before closing: the server drops a closed session's locks a moment
            # after the client has gone, so taking the lock again right away would fail.
            with contextlib.suppress(psycopg.Error):  # a lost session holds nothing
                holder.execute("SELECT pg_advisory_unlock(%s)", (key,))


def still_held(holder: psycopg.Connection) -> bool:
    """Whether the lock's session is still alive (a lost one has released it)."""
    try:
        holder.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def _try_lock(holder: psycopg.Connection, key: int) -> bool:
    row = holder.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
    return bool(row and row[0])
