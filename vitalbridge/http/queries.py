"""Asking the query bus from an endpoint, as the request's principal."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from vitalbridge.http.auth import current_principal
from vitalbridge.messaging.messages import Query
from vitalbridge.services import services


def ask(query: Query) -> Any:
    """Answer ``query`` as the request's principal sees the data."""
    return services().queries.ask(query, current_principal())


def one_snapshot() -> AbstractContextManager[None]:
    """Answer every ``ask`` inside the block from one read-only transaction.

    For endpoints that ask several questions: one consistent snapshot, one round of
    connection checkout and transaction set-up. Without a replica the request's own read
    transaction (opened for its key check) already covers it, and this opens nothing.
    ``send_command`` ends either before the command runs.
    """
    return services().queries.reading(current_principal())
