"""Request ids: taken from nginx's X-Request-ID when sane, else made; in logs and replies.

Each request also leaves one JSON access-log line (status, duration) under its id.
"""

from __future__ import annotations

import re
import time
import uuid

import structlog
from flask import Flask, Response, g, request

from vitalbridge.logs import log_request

HEADER = "X-Request-ID"
_ACCEPTABLE = re.compile(r"^[A-Za-z0-9._:-]{1,200}$")


def init_request_ids(app: Flask) -> None:
    """Give every request an id, bind it to the log context, echo it in the response."""
    app.before_request(_assign)
    app.after_request(_echo)
    app.teardown_request(lambda _error: structlog.contextvars.clear_contextvars())


def _assign() -> None:
    incoming = request.headers.get(HEADER, "")
    g.request_id = incoming if _ACCEPTABLE.match(incoming) else uuid.uuid4().hex
    g.started = time.perf_counter()
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(
        request_id=g.request_id, method=request.method, path=request.path
    )


def _echo(response: Response) -> Response:
    if "request_id" in g:
        response.headers[HEADER] = g.request_id
        elapsed_ms = round((time.perf_counter() - g.started) * 1000, 2)
        log_request(status=response.status_code, duration_ms=elapsed_ms)
    return response
