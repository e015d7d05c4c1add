"""The utilization report's body, written as JSON text around the stored days.

A page of 200 providers over 92 days holds 18,400 dates. The read model keeps each date
serialized, and the database joins them into one array per provider; the answer splices
those arrays into the dumped rest of the page instead of parsing and dumping them again,
which would cost more than everything else the request does.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Response, current_app

from vitalbridge.reporting import schemas
from vitalbridge.reporting.utilization import Usage

_REST = schemas.UtilizationPageSchema(only=("next_cursor", "meta"))


def report_response(items: list[tuple[dict[str, Any], str]], next_cursor: str | None,
                    meta: dict[str, Any]) -> Response:
    """A 200 with the page: each item's head and its days (a JSON array, as text)."""
    shown = "[" + ",".join(_item(_head_json(head), days) for head, days in items) + "]"
    rest = current_app.json.dumps(_REST.dump({"next_cursor": next_cursor, "meta": meta}))
    body = '{"items":' + shown + "," + rest[1:]
    response = current_app.response_class(body, mimetype="application/json")
    response.headers["ETag"] = _etag(shown, next_cursor)
    return response


def _head_json(head: dict[str, Any]) -> str:
    # ProviderUsageSchema's fields but days, written directly: these are plain values,
    # and 200 schema dumps a page cost more than the page's SQL statement takes.
    totals: Usage = head["totals"]
    return json.dumps({
        "provider_id": str(head["provider_id"]), "display_name": head["display_name"],
        "timezone": head["timezone"], "active": head["active"],
        "totals": totals.to_json()}, separators=(",", ":"))


def _item(head: str, days: str) -> str:
    # head is a JSON object: the days go in before its closing brace.
    return head[:-1] + ',"days":' + days + "}"


def _etag(shown: str, next_cursor: str | None) -> str:
    # What the page shows, not when (meta moves with every answer): an unchanged report
    # keeps its tag. BLAKE2 because the text may be megabytes.
    digest = hashlib.blake2b(shown.encode(), digest_size=16)
    digest.update((next_cursor or "").encode())
    return f'"{digest.hexdigest()}"'
