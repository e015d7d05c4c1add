"""Answering queries: single resources with their ETag, and UTC timestamps with ``Z``."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from marshmallow import fields

from vitalbridge.messaging.errors import NotFound
from vitalbridge.messaging.messages import to_json_value


def utc_text(value: datetime) -> str:
    """An aware instant as RFC 3339 in UTC with ``Z``: ``2027-03-15T13:00:00Z``."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class UtcDateTime(fields.DateTime):
    """An RFC 3339 timestamp, always rendered in UTC with ``Z`` (shared/API.md)."""

    def _serialize(self, value: datetime | None, attr: Any, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else utc_text(value)


def local_text(value: datetime) -> str:
    """An aware instant as RFC 3339 at its own offset: ``2027-03-15T09:00:00-04:00``.

    RFC 3339 offsets are whole minutes. Local mean time (most zones before ~1900-1920,
    Africa/Monrovia until 1972) had offsets with seconds; such an instant is shown at
    its offset rounded to the minute, so the instant stays exact and the local clock
    time moves by under 30 seconds.
    """
    offset = value.utcoffset()
    if offset is None:
        raise ValueError("local_text needs an aware datetime")
    if offset % timedelta(minutes=1):
        minutes = round(offset / timedelta(minutes=1))
        value = value.astimezone(timezone(timedelta(minutes=minutes)))
    return value.isoformat()


class LocalDateTime(fields.DateTime):
    """An RFC 3339 timestamp at the offset of the value's own zone."""

    def _serialize(self, value: datetime | None, attr: Any, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else local_text(value)


def utc_list(attribute: str, **metadata: Any) -> fields.Function:
    """A list of instants rendered like UtcDateTime, without a field call per element.

    For long lists (availability answers thousands of slots), where marshmallow's
    per-element dispatch would cost more than the query.
    """
    return fields.Function(
        lambda obj: [utc_text(value) for value in getattr(obj, attribute)],
        metadata={"type": "array", "items": {"type": "string", "format": "date-time"},
                  **metadata})


def single(view: Any, what: str) -> tuple[Any, int, dict[str, str]]:
    """A single resource with its ETag, or 404 when the query found nothing."""
    if view is None:
        raise NotFound(f"No such {what}.")
    return view, 200, {"ETag": f'"{view.version}"'}


def answer_etag(body: dict[str, Any], *, moving: tuple[str, ...] = ("meta", "as_of")) -> str:
    """A strong ETag for a computed answer: a digest of what it shows.

    ``moving`` parts change with every answer (the moment, the freshness) and are left
    out, so an unchanged answer keeps its tag and If-None-Match can say 304.
    """
    shown = {key: value for key, value in body.items() if key not in moving}
    digest = hashlib.sha256(json.dumps(to_json_value(shown), sort_keys=True,
                                       default=str).encode()).hexdigest()
    return f'"{digest[:32]}"'
