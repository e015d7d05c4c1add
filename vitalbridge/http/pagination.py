"""Keyset pagination: ``?limit=&cursor=``, with an opaque cursor of the last sort key.

A cursor is the page's last sort key, encrypted and authenticated (Fernet, keyed from
API_KEY_PEPPER): a sort key can be a patient's name, and URLs end up in logs, browser
histories and proxies, so it must not be readable there; and a cursor this API did not
issue is refused before any of it reaches a query.
"""

from __future__ import annotations

import base64
import functools
import json
import math
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from marshmallow import Schema, fields, validate

from vitalbridge.http.validators import QueryArgs, Text, storable
from vitalbridge.messaging.errors import InvalidCommand
from vitalbridge.messaging.messages import to_json_value

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# The longest sort key (a 200-character name of 4-byte characters, and an id) encrypts to
# about 1,210 characters; URLs stay well inside gunicorn's request-line limit.
MAX_CURSOR_LENGTH = 1500


class PageArgs(QueryArgs):
    """The query arguments every list endpoint accepts (and a base for their filters)."""

    limit = fields.Integer(load_default=DEFAULT_LIMIT,
                           validate=validate.Range(min=1, max=MAX_LIMIT),
                           metadata={"description": "Page size, 1 to 200 (default 50)."})
    cursor = Text(load_default=None, validate=validate.Length(max=MAX_CURSOR_LENGTH),
                  metadata={"description": "next_cursor of the previous page."})


class PageSchema(Schema):
    """The envelope of every list response."""

    next_cursor = fields.String(allow_none=True)


def decode_cursor(cursor: str | None) -> list[Any] | None:
    """The sort key a cursor carries, or 422 naming ``cursor``."""
    if cursor is None:
        return None
    try:
        decoded = json.loads(_cipher().decrypt(_padded(cursor)))
    except (InvalidToken, ValueError):
        decoded = None
    if not isinstance(decoded, list) or not all(_storable(value) for value in decoded):
        raise InvalidCommand("The cursor is not one this API issued.",
                             errors={"cursor": ["Invalid cursor."]})
    return decoded


def _storable(value: Any) -> bool:
    # A forged cursor's strings reach the database as sort keys.
    return storable(value) if isinstance(value, str) else True


def encode_cursor(sort_key: Sequence[Any]) -> str:
    """An opaque cursor for the page after the row with ``sort_key``."""
    raw = json.dumps([to_json_value(v) for v in sort_key], separators=(",", ":"),
                     ensure_ascii=False)
    return seal_cursor(raw.encode())


def seal_cursor(raw: bytes) -> str:
    """``raw`` encrypted as a cursor (tests use it to forge what a leaked key could)."""
    return _cipher().encrypt(raw).decode().rstrip("=")


def _padded(cursor: str) -> bytes:
    # Cursors travel without base64's "=" padding (one less character to escape).
    return cursor.encode() + b"=" * (-len(cursor) % 4)


def _cipher() -> Fernet:
    return _cipher_for(current_app.config["SETTINGS"].api_key_pepper)


@functools.lru_cache(maxsize=4)
def _cipher_for(pepper: str) -> Fernet:
    # A key of its own, derived from the pepper: one secret to manage, and a cursor key
    # that reveals nothing about the key of the API-key hashes.
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"vitalbridge page cursors").derive(pepper.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def page_response(items: Sequence[Any], limit: int,
                  sort_key: Callable[[Any], Sequence[Any]]) -> dict[str, Any]:
    """The list body; ``items`` holds up to ``limit + 1`` rows (one more says "more")."""
    page = list(items[:limit])
    more = len(items) > limit
    return {
        "items": page,
        "next_cursor": encode_cursor(sort_key(page[-1])) if more and page else None,
    }


def cursor_values(cursor: str | None, *readers: Callable[[Any], Any]) -> tuple[Any, ...] | None:
    """The sort key a cursor carries, each value read by its reader; 422 naming ``cursor``
    when the cursor was not issued by this API (forged, or from another endpoint)."""
    values = decode_cursor(cursor)
    if values is None:
        return None
    try:
        if len(values) != len(readers):
            raise ValueError(values)
        return tuple(read(value) for read, value in zip(readers, values, strict=True))
    except (TypeError, ValueError):
        raise InvalidCommand("The cursor is not one this API issued.",
                             errors={"cursor": ["Invalid cursor."]}) from None


# Readers of cursor values. Each refuses a value of the wrong JSON type with TypeError:
# uuid.UUID(1) would raise AttributeError, and a number where text belongs would reach
# the database as a sort key of the wrong type.

def text_value(value: Any) -> str:
    """A string sort key."""
    if not isinstance(value, str):
        raise TypeError(value)
    return value


def uuid_value(value: Any) -> uuid.UUID:
    """A UUID written as a string."""
    return uuid.UUID(text_value(value))


def timestamp_value(value: Any) -> datetime:
    """An ISO 8601 timestamp with its offset."""
    stamp = datetime.fromisoformat(text_value(value))
    if stamp.tzinfo is None:
        raise ValueError(value)
    return stamp


def number_value(value: Any) -> float:
    """A finite JSON number (not a boolean; Python's json reads NaN and Infinity too)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(value)
    if not math.isfinite(value):
        raise ValueError(value)
    return value


def timestamp_id_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    """Decode a cursor over ``(created_at, id)``, the most common sort key."""
    return cursor_values(cursor, timestamp_value, uuid_value)
