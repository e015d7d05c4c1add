"""Request bodies must be JSON: a body sent as anything else is 415, not silently ignored,
and one Python's JSON reader cannot read is 400."""

from __future__ import annotations

import json

from flask import Flask, request
from flask_smorest import abort
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
    _require_readable_json()


def _require_readable_json() -> None:
    # Read once here, for every endpoint alike: webargs answers bodies that are not JSON
    # (400 naming `json`), but valid JSON can still fail to load (nested 100,000 deep:
    # RecursionError; an integer of 5,000 digits: ValueError), a 500 in any view that
    # reads the body. Those get webargs' answer too, with their own reason.
    try:
        json.loads(request.get_data(cache=True))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return  # webargs' own 400 names it
    except (ValueError, RecursionError):
        abort(400, messages={"json": {"json": [
            "Nested too deeply, or a number too long to read."]}})
