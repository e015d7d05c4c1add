"""Conditional reads: a GET whose answer carries an ETag honours If-None-Match with 304.

Single resources tag their version, read-model answers a digest of what they show; the
comparison (weak, lists, ``*``) is werkzeug's. Nothing is cached in the process: with
several workers a cache would serve what ``meta`` cannot describe.
"""

from __future__ import annotations

from flask import Flask, Response, request


def init_conditional_reads(app: Flask) -> None:
    """Answer 304 Not Modified where If-None-Match names the answer's ETag."""

    @app.after_request
    def not_modified(response: Response) -> Response:
        if request.method in ("GET", "HEAD") and response.status_code == 200 \
                and "ETag" in response.headers and "If-None-Match" in request.headers:
            response.make_conditional(request)
        return response
