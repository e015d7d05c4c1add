"""Answering queries: single resources with their ETag, and UTC timestamps with ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import fields

from vitalbridge.messaging.errors import NotFound


class UtcDateTime(fields.DateTime):
    """An RFC 3339 timestamp, always rendered in UTC with ``Z`` (shared/API.md)."""

    def _serialize(self, value: datetime | None, attr: Any, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def single(view: Any, what: str) -> tuple[Any, int, dict[str, str]]:
    """A single resource with its ETag, or 404 when the query found nothing."""
    if view is None:
        raise NotFound(f"No such {what}.")
    return view, 200, {"ETag": f'"{view.version}"'}
