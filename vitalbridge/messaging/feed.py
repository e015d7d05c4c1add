"""The events feed: a tenant's delivered events in their gap-free position order.

Positions are handed out by the one active relay as it delivers, and a position is
visible only once every smaller one of the tenant is, so a reader that follows
``after`` can never skip an event that committed late.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from vitalbridge.messaging.bus import ReadContext
from vitalbridge.messaging.messages import Query

_PAGE = text("""
SELECT position, envelope FROM outbox
 WHERE position > :after AND (CAST(:type AS text) IS NULL OR type = :type)
 ORDER BY position
 LIMIT :limit
""")
_REACH = text("SELECT min(position), max(position) FROM outbox WHERE position IS NOT NULL")


@dataclass(frozen=True, kw_only=True)
class ListEvents(Query):
    """Delivered events of the asking tenant after a position, oldest first."""

    after: int = 0
    type: str | None = None
    limit: int = 100


@dataclass(frozen=True)
class EventPage:
    """A page of the feed, and how far back and forward the feed reaches now."""

    items: list[dict[str, Any]]
    oldest_position: int | None
    latest_position: int | None


def list_events(query: ListEvents, ctx: ReadContext) -> EventPage:
    """Read one page of the feed (row-level security keeps it to the tenant)."""
    rows = ctx.session.execute(_PAGE, {"after": query.after, "type": query.type,
                                       "limit": query.limit})
    oldest, latest = ctx.session.execute(_REACH).one()
    return EventPage(items=[{"position": r.position, **r.envelope} for r in rows],
                     oldest_position=oldest, latest_position=latest)


QUERY_HANDLERS = {ListEvents: list_events}
