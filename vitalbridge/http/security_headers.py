"""Headers every answer carries for the browser and the caches in between.

``nosniff`` on everything: a JSON answer is never run as a script or a page. An answer
to a request with credentials may hold health data, so no shared or browser cache keeps
it (``no-store``); a client that wants to revalidate still sends ``If-None-Match`` with
the ETag it kept itself. HSTS is nginx's (deploy/nginx.conf): it is about the TLS host.
"""

from __future__ import annotations

from flask import Flask, Response, request


def init_security_headers(app: Flask) -> None:
    """Add the headers to every response, errors included."""
    app.after_request(_add_headers)


def _add_headers(response: Response) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    if "Authorization" in request.headers:
        response.headers["Cache-Control"] = "no-store"
    return response
