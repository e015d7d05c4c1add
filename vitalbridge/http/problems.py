"""RFC 9457 problem details: the one place exceptions become error responses."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import psycopg
import sqlalchemy.exc
from flask import Flask, Response, current_app, g, json, request
from werkzeug.exceptions import HTTPException

from vitalbridge.http.path_params import malformed_ids
from vitalbridge.messaging.errors import DomainError, failure_summary

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:vitalbridge:problem:"


def problem(status: int, title: str, detail: str | None = None, *, type_: str | None = None,
            errors: Mapping[str, list[str]] | None = None,
            headers: Mapping[str, str] | None = None, **extra: Any) -> Response:
    """Build a problem+json response."""
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + type_ if type_ else "about:blank",
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = dict(errors)
    body.update(extra)
    request_id = g.get("request_id")
    if request_id:
        body["request_id"] = request_id
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    response.headers.update(dict(headers or {}))
    return response


# RFC 9110 names; werkzeug still says "Unprocessable Entity" (RFC 4918).
_TITLES = {422: "Unprocessable Content", 413: "Content Too Large"}


def register_error_handlers(app: Flask) -> None:
    """Answer every error as problem+json; never leak a stack trace."""
    app.register_error_handler(DomainError, _domain_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)


def _domain_error(error: DomainError) -> Response:
    headers = dict(getattr(error, "headers", {}))  # e.g. not-yet-consistent's Retry-After
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="vitalbridge"'
    return problem(error.status, error.title, error.detail, type_=error.type,
                   errors=error.errors or None, headers=headers, **error.extra)


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    if status >= 500:
        return _unexpected_error(error)
    if status == 404 and request.url_rule is None and (ids := malformed_ids(current_app)):
        return _malformed_ids(ids)
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    errors = _field_errors(getattr(error, "data", None) or {})
    detail = _detail(status, errors, error.description)
    return problem(status, _TITLES.get(status, error.name), detail, type_=_type_for(status, errors),
                   errors=errors or None, headers=headers)


def _malformed_ids(names: list[str]) -> Response:
    # The route exists but an id in its path is no UUID (often a placeholder left in):
    # no resource can have it, so 404, naming the parameter rather than a bare "not found".
    return problem(404, "Not Found", f"No such resource: {', '.join(names)} in the path "
                   "is not an id (a UUID such as 3f2504e0-4f89-41d3-9a0c-0305e82c3301).",
                   type_="not-found", errors={name: ["Not a valid UUID."] for name in names})


def _detail(status: int, errors: Mapping[str, list[str]], description: str | None) -> str | None:
    if status == 400 and "json" in errors:  # webargs: {"json": ["Invalid JSON body."]}
        return "The request body is not valid JSON."
    return "One or more fields are invalid." if errors else description


def _unexpected_error(error: Exception) -> Response:
    if _bad_data(error):
        return _unstorable_input(error)
    if _caused_by(error, _TIMED_OUT):
        return _timed_out(error)
    log.exception("unhandled error", exc_info=error)
    return problem(500, "Internal Server Error",
                   "The server failed to handle this request; it has been logged.")


# A value the database or the UTF-8 encoder refuses (NUL in text, a lone surrogate, a
# number or date out of the column's range: SQLSTATE class 22) came from the request:
# the schemas should have refused it first. A backstop, so that a field someone forgot
# still answers 4xx, not 500; logged as a warning so that the gap is seen and closed.
_BAD_DATA = (UnicodeEncodeError, psycopg.DataError, sqlalchemy.exc.DataError)


# The app role's statement_timeout or lock_timeout ran out (migrations/0017): the
# database is busy or something holds a lock; a retry later may pass.
_TIMED_OUT = (psycopg.errors.QueryCanceled, psycopg.errors.LockNotAvailable)
RETRY_AFTER_TIMEOUT_SECONDS = 2


def _bad_data(error: BaseException) -> bool:
    return _caused_by(error, _BAD_DATA)


def _caused_by(error: BaseException, kinds: tuple[type[BaseException], ...]) -> bool:
    # Only explicit causes (SQLAlchemy raises its wrapper "from" the driver's error): an
    # exception merely raised while handling a DataError is another failure, a 500.
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:  # a chain may loop
        if isinstance(cause, kinds):
            return True
        seen.add(id(cause))
        cause = cause.__cause__
    return False


def _timed_out(error: Exception) -> Response:
    # By class and SQLSTATE only: the message may quote the statement's values.
    log.warning("database timeout", extra={"error": failure_summary(error)})
    return problem(503, "Service Unavailable", "The database did not answer in time (a "
                   "statement or a lock wait ran out); nothing was changed. Retry later.",
                   type_="database-timeout",
                   headers={"Retry-After": str(RETRY_AFTER_TIMEOUT_SECONDS)})


def _unstorable_input(error: Exception) -> Response:
    log.warning("input that no schema refused could not be encoded or stored", exc_info=error)
    return problem(422, _TITLES[422], "The request holds a value that cannot be stored or "
                   "compared (a NUL character, invalid Unicode or a value out of range).",
                   type_="unprocessable-value")


def _type_for(status: int, errors: Mapping[str, list[str]]) -> str | None:
    if status == 422 and errors:
        return "validation-error"
    if status == 400:
        return "malformed-request"
    return None


def _field_errors(data: Mapping[str, Any]) -> dict[str, list[str]]:
    """Flatten webargs' ``{location: {field: [messages]}}`` into ``{field: [messages]}``."""
    flat: dict[str, list[str]] = {}
    for location, fields in (data.get("messages") or {}).items():
        if not isinstance(fields, Mapping):
            flat[location] = _as_list(fields)
            continue
        for name, messages in fields.items():
            _flatten(flat, "body" if name == "_schema" else str(name), messages)
    return flat


def _flatten(into: dict[str, list[str]], prefix: str, messages: Any) -> None:
    if isinstance(messages, Mapping):
        for key, nested in messages.items():
            _flatten(into, prefix if key == "_schema" else f"{prefix}.{key}", nested)
    else:
        into.setdefault(prefix, []).extend(_as_list(messages))


def _as_list(messages: Any) -> list[str]:
    return [str(m) for m in messages] if isinstance(messages, list | tuple) else [str(messages)]
