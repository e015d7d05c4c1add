"""Request bodies must be JSON: a body sent as anything else is 415, not silently ignored.

Only the declared type is checked here, before the key: reading the JSON is left to the
view's parser (vitalbridge/http/blueprint.py), which runs after the key is accepted.
"""

from __future__ import annotations

from flask import Flask, request
from werkzeug.exceptions import UnsupportedMediaType

_WITH_BODY = {"POST", "PUT", "PATCH"}


def init_content_type_check(app: Flask) -> None:
    """Refuse non-JSON bodies on command endpoints."""
    app.before_request(_require_json_body)


def _require_json_body() -> None:
    if request.method not in _WITH_BODY or not request.content_length:
        return
    if not request.is_json:
        raise UnsupportedMediaType("Send the body as JSON with 'Content-Type: application/json'.")
