"""A request whose target (path and query) is too long is 414 problem+json.

gunicorn reads request lines up to 8190 bytes (``limit_request_line`` in
deploy/gunicorn.conf.py, its maximum) and answers longer ones with its own HTML page;
nginx in front refuses lines over its 8 KiB buffers first, with a problem+json page of
its own (deploy/nginx.conf). Just below both, the app refuses targets over 8000
characters itself, so a 414 that reaches a client through nginx is problem+json.
Every request the OpenAPI document allows fits: repeated ids are capped at
``MAX_REPEATED_IDS`` (100 ids of 49 characters each), the longest list cursor is about
1,210 characters, and text arguments are at most 100 characters.
"""

from __future__ import annotations

from flask import Flask, request
from werkzeug.exceptions import RequestURITooLarge

MAX_TARGET_CHARACTERS = 8000
MAX_REPEATED_IDS = 100  # ?provider_id=...&provider_id=...


def init_request_limits(app: Flask) -> None:
    """Refuse over-long request targets before anything else reads them."""
    app.before_request(_refuse_long_targets)


def _refuse_long_targets() -> None:
    target = request.environ.get("RAW_URI") or request.full_path
    if len(target) > MAX_TARGET_CHARACTERS:
        raise RequestURITooLarge(
            f"The request target is longer than {MAX_TARGET_CHARACTERS} characters.")
