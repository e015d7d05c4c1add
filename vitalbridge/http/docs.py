"""The OpenAPI document and a Swagger UI page served from local files (works offline).

The document describes errors as the app answers them: RFC 9457 problem details,
``application/problem+json`` (vitalbridge/http/problems.py). flask-smorest documents
every error response (the 422 of ``@blueprint.arguments``, the ``default`` of every
operation, any status named by reference) through the shared response components it
declares per HTTP status; ``ProblemApi`` declares those as problem+json with the
``Problem`` schema, so an endpoint added anywhere is documented right without a line of
its own. ``ErrorResponsesPlugin`` adds the statuses that an operation's kind implies
(commands, bodies, ids in the path) and ``auth.requires`` the 401 and 403 of a key.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

import flask_swagger_ui
from apispec import BasePlugin
from flask import Blueprint, Flask, Response, render_template_string, send_from_directory
from flask.typing import ResponseReturnValue
from flask_smorest import Api
from marshmallow import INCLUDE, Schema, fields, validate

from vitalbridge.http.problems import PROBLEM_JSON, TYPE_PREFIX

SWAGGER_DIST = os.path.join(os.path.dirname(flask_swagger_ui.__file__), "dist")

blueprint = Blueprint("docs", __name__)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>VitalBridge API</title>
<link rel="stylesheet" href="{{ url_for('docs.asset', filename='swagger-ui.css') }}">
</head><body><div id="swagger-ui"></div>
<script src="{{ url_for('docs.asset', filename='swagger-ui-bundle.js') }}"></script>
<script src="{{ url_for('docs.asset', filename='swagger-ui-standalone-preset.js') }}"></script>
<script>
window.ui = SwaggerUIBundle({url: "{{ url_for('api-docs.openapi_json') }}",
  dom_id: "#swagger-ui", validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: "StandaloneLayout"});
</script></body></html>"""


@blueprint.get("/docs")
def page() -> ResponseReturnValue:
    """The browsable API reference."""
    return render_template_string(_PAGE)


@blueprint.get("/docs/assets/<path:filename>")
def asset(filename: str) -> Response:
    """Swagger UI's own files, shipped inside the flask-swagger-ui wheel."""
    return send_from_directory(SWAGGER_DIST, filename, max_age=86400)


def openapi_settings() -> dict[str, object]:
    """flask-smorest settings: OpenAPI 3.1 at /openapi.json, no CDN-backed UIs."""
    return {
        "API_TITLE": "VitalBridge API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.1.0",
        "OPENAPI_URL_PREFIX": "/",
        "OPENAPI_JSON_PATH": "openapi.json",
        "API_SPEC_OPTIONS": {
            "info": {"description": "Multi-tenant healthcare scheduling. Commands answer "
                                    "acknowledgements; queries never change anything."},
            "components": {"securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "API key"}}},
            "security": [{"bearer": []}],
        },
    }


def init_docs(app: Flask) -> None:
    """Serve /docs and its assets."""
    app.register_blueprint(blueprint)


class ProblemSchema(Schema):
    """RFC 9457 problem details, as vitalbridge/http/problems.py writes them."""

    class Meta:
        # RFC 9457 lets a problem carry extension members; a client must ignore unknown ones.
        unknown = INCLUDE

    type = fields.String(required=True, metadata={
        "description": f"The problem's kind: `{TYPE_PREFIX}<name>` (e.g. validation-error, "
                       "slot-unavailable), or `about:blank` when the status says it all.",
        "example": f"{TYPE_PREFIX}validation-error"})
    title = fields.String(required=True, metadata={"example": "Unprocessable Content"})
    status = fields.Integer(required=True, validate=validate.Range(min=400, max=599),
                            metadata={"description": "The response's HTTP status."})
    detail = fields.String(metadata={"description": "This occurrence, in words."})
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), metadata={
        "description": "Each bad field (dotted for nested ones, `body` for the whole body, "
                       "a header's name for a header) and what is wrong with it.",
        "example": {"start": ["Not a valid datetime."]}})
    request_id = fields.String(metadata={
        "description": "The request's X-Request-ID, to find it in the logs."})
    # Extension members of particular problem types.
    current_version = fields.Integer(metadata={
        "description": "precondition-failed: the version If-Match should have named."})
    current_status = fields.String(metadata={
        "description": "illegal-transition: the status the resource is in."})
    existing_id = fields.UUID(metadata={
        "description": "possible-duplicate: the id of the record this one may duplicate."})
    earliest_start = fields.DateTime(metadata={
        "description": "short-notice: the earliest start the clinic's notice allows."})


# The shared response components of the statuses the app answers, described as it means
# them; other error statuses keep their reason phrase.
_MEANINGS = {
    HTTPStatus.BAD_REQUEST: "The body is not valid JSON (malformed-request).",
    HTTPStatus.UNAUTHORIZED: "No API key, or a malformed, unknown or revoked one "
                             "(unauthenticated).",
    HTTPStatus.FORBIDDEN: "The key's role may not do this (forbidden).",
    HTTPStatus.NOT_FOUND: "No such resource in this tenant (another tenant's is never "
                          "revealed) or no such route (not-found).",
    HTTPStatus.CONFLICT: "A business rule refused the command: `type` names the rule (e.g. "
                         "slot-unavailable; where the operation's description lists rules, "
                         "those), or the first request with this Idempotency-Key is still "
                         "running (idempotency-key-in-flight).",
    HTTPStatus.PRECONDITION_FAILED: "If-Match named a version that is no longer current "
                                    "(precondition-failed; `current_version` is).",
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "The body is larger than the server accepts.",
    HTTPStatus.UNSUPPORTED_MEDIA_TYPE: "The body is not sent as application/json.",
    HTTPStatus.UNPROCESSABLE_ENTITY: "A field is invalid: `errors` names each one "
                                     "(validation-error); or the Idempotency-Key was first "
                                     "used with another body (idempotency-key-reused).",
}
_HEADERS = {HTTPStatus.UNAUTHORIZED: {"WWW-Authenticate": {
    "description": "The scheme to authenticate with: `Bearer realm=\"vitalbridge\"`.",
    "required": True, "schema": {"type": "string"}}}}


def problem_response(description: str, **extra: Any) -> dict[str, Any]:
    """An OpenAPI response answered as problem+json (``extra``: headers, examples...)."""
    return {"description": description,
            "content": {PROBLEM_JSON: {"schema": ProblemSchema}}, **extra}


def _error_statuses() -> Iterator[HTTPStatus]:
    return (status for status in HTTPStatus if status >= 400)


class ProblemApi(Api):
    """flask-smorest's Api with every error response documented as problem+json."""

    ERROR_SCHEMA = ProblemSchema

    def __init__(self, app: Flask | None = None) -> None:
        super().__init__(app, spec_kwargs={"extra_plugins": [ErrorResponsesPlugin()]})

    def init_app(self, app: Flask, *, spec_kwargs: dict[str, Any] | None = None) -> None:
        super().init_app(app, spec_kwargs=spec_kwargs)
        # flask-smorest declared one lazy response per status and DEFAULT_ERROR, all
        # under its DEFAULT_RESPONSE_CONTENT_TYPE (which the successes need as it is).
        # Declared again before any operation refers to them, they describe problem+json.
        components = self.spec.components
        for status in _error_statuses():
            components.response(status.name, problem_response(
                _MEANINGS.get(status, status.phrase), **_headers(status)), lazy=True)
        components.response(self.DEFAULT_ERROR_RESPONSE_NAME, problem_response(
            "Any other error, as RFC 9457 problem details."), lazy=True)


def _headers(status: HTTPStatus) -> dict[str, Any]:
    return {"headers": _HEADERS[status]} if status in _HEADERS else {}


# What each kind of operation can answer, by the rules every endpoint shares.
_COMMAND_METHODS = {"post", "put", "patch", "delete"}  # API.md: commands
_BODY_METHODS = {"post", "put", "patch"}  # vitalbridge/http/content_type.py


class ErrorResponsesPlugin(BasePlugin):
    """Documents the errors an operation answers because of what kind of operation it is."""

    def operation_helper(self, path: str | None = None,
                         operations: dict[str, Any] | None = None, **kwargs: Any) -> None:
        """Add the implied error responses (by reference) to each of ``operations``."""
        for method, operation in (operations or {}).items():
            responses = operation.setdefault("responses", {})
            for status in _implied_errors(path or "", method, operation):
                if int(status) not in responses and str(int(status)) not in responses:
                    responses[int(status)] = status.name
            operation["responses"] = dict(sorted(responses.items(), key=_response_order))


def _implied_errors(path: str, method: str, operation: dict[str, Any]) -> list[HTTPStatus]:
    """The errors an operation can answer for its method, its path and its body."""
    statuses = []
    if "{" in path:  # an id that names nothing (or no route: a malformed one)
        statuses.append(HTTPStatus.NOT_FOUND)
    if method in _COMMAND_METHODS:  # Idempotency-Key in flight, reused or malformed
        statuses += [HTTPStatus.CONFLICT, HTTPStatus.UNPROCESSABLE_ENTITY]
    if method in _BODY_METHODS:  # a body not JSON, or larger than MAX_CONTENT_LENGTH
        statuses += [HTTPStatus.UNSUPPORTED_MEDIA_TYPE, HTTPStatus.REQUEST_ENTITY_TOO_LARGE]
    if "requestBody" in operation:  # parsed by webargs: malformed JSON
        statuses.append(HTTPStatus.BAD_REQUEST)
    return statuses


def _response_order(item: tuple[int | str, Any]) -> tuple[bool, str]:
    # Successes, then errors by status, then default: the order of a reader's questions.
    return str(item[0]) == "default", str(item[0])
