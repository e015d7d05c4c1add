"""Cross-origin access for browser clients, only from the origins a deployment lists.

CORS_ALLOWED_ORIGINS is empty by default: no answer carries CORS headers, so a browser
page on another origin cannot read anything, even with a stolen key. A listed origin
may send the API's request headers and read its response headers; credentials travel
as the Authorization header, never cookies, so none are allowed.
"""

from __future__ import annotations

from flask import Flask
from flask_cors import CORS

REQUEST_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key", "If-Match",
                   "If-None-Match", "Consistency-Token", "X-Request-ID"]
RESPONSE_HEADERS = ["ETag", "Location", "Consistency-Token", "Idempotent-Replayed",
                    "Retry-After", "X-Request-ID", "WWW-Authenticate"]
PREFLIGHT_MAX_AGE_SECONDS = 600


def init_cors(app: Flask) -> None:
    """Answer the listed origins' requests to /api/ with CORS headers; no one else's."""
    origins = list(app.config["SETTINGS"].cors_origins)
    if not origins:
        return
    CORS(app, resources={r"/api/*": {"origins": origins}}, allow_headers=REQUEST_HEADERS,
         expose_headers=RESPONSE_HEADERS, supports_credentials=False,
         max_age=PREFLIGHT_MAX_AGE_SECONDS, vary_header=True)
