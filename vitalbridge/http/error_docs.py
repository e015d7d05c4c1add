"""How the OpenAPI document describes errors, and the decorators views declare them with.

The document describes errors as the app answers them: RFC 9457 problem details,
``application/problem+json`` (vitalbridge/http/problems.py). flask-smorest documents
every error response (the 422 of ``@blueprint.arguments``, the ``default`` of every
operation, any status named by reference) through the shared response components it
declares per HTTP status; ``ProblemApi`` declares those as problem+json with the
``Problem`` schema, so an endpoint added anywhere is documented right without a line of
its own. ``ErrorResponsesPlugin`` adds the statuses that an operation's kind implies
(commands, bodies, ids in the path) and ``auth.requires`` the 401 and 403 of a key.

What only the view knows is declared on it: ``@conflicts(SlotUnavailable, ...)`` names
the business rules a command's 409 may carry (its ``type`` is one of them), and
``@if_match`` says that the view reads If-Match (``commands.expected_version``), which
documents the header and its 412. Every command documents the ``Idempotency-Key`` header,
and the answers a key can replay ``Idempotent-Replayed`` (vitalbridge/http/commands.py).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from http import HTTPStatus
from typing import Any, TypeVar

from apispec import APISpec, BasePlugin
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.schema_resolver import SchemaResolver
from flask import Flask
from flask_smorest import Api
from flask_smorest import Blueprint as ApiBlueprint
from marshmallow import INCLUDE, Schema, fields, validate

from vitalbridge.http.links import LinkBook
from vitalbridge.http.problems import PROBLEM_JSON, TYPE_PREFIX
from vitalbridge.messaging.errors import DomainError, IdempotencyKeyInFlight

F = TypeVar("F", bound=Callable[..., Any])


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
    HTTPStatus.NOT_FOUND: "No such resource in this tenant (not-found; another tenant's "
                          "is never revealed), also for an id in the path that is not a "
                          "UUID (`errors` names it); or no such route (about:blank).",
    HTTPStatus.CONFLICT: "A business rule refused the command (`type` names it; each "
                         "command lists its own), or the first request with this "
                         "Idempotency-Key is still running (idempotency-key-in-flight).",
    HTTPStatus.PRECONDITION_FAILED: "If-Match named a version that is no longer current "
                                    "(precondition-failed; `current_version` is).",
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "The body is larger than the server accepts.",
    HTTPStatus.REQUEST_URI_TOO_LONG: "The path and query are longer than the server "
                                     "accepts (8000 characters).",
    HTTPStatus.UNSUPPORTED_MEDIA_TYPE: "The body is not sent as application/json.",
    HTTPStatus.UNPROCESSABLE_ENTITY: "A field is invalid: `errors` names each one "
                                     "(validation-error); or the Idempotency-Key was first "
                                     "used with another body (idempotency-key-reused).",
}
_HEADERS = {HTTPStatus.UNAUTHORIZED: {"WWW-Authenticate": {
    "description": "The scheme to authenticate with: `Bearer realm=\"vitalbridge\"`.",
    "required": True, "schema": {"type": "string"}}}}

# The headers of commands (vitalbridge/http/commands.py), declared once as components and
# referred to by these names.
IDEMPOTENCY_KEY = "IdempotencyKey"
IF_MATCH = "IfMatch"
REPLAYED = "IdempotentReplayed"
# Read your writes and conditional reads (vitalbridge/http/consistency.py, conditional.py).
CONSISTENCY_TOKEN = "ConsistencyToken"  # noqa: S105 - a component name, not a secret
PREFER_WAIT = "PreferWait"
IF_NONE_MATCH = "IfNoneMatch"
CONSISTENCY_REPLY = "ConsistencyTokenReply"
RETRY_AFTER = "RetryAfter"
ETAG = "ETag"
# Markers the view decorators below leave for ErrorResponsesPlugin (removed by it).
_CONDITIONAL = "x-conditional"
_READS_READ_MODELS = "x-read-models"

_PARAMETERS: dict[str, dict[str, Any]] = {
    IDEMPOTENCY_KEY: {
        "name": "Idempotency-Key", "in": "header", "required": False,
        "description": "Makes the command safe to retry. The same key with the same method, "
                       "path and JSON body, from the same tenant, within 24 hours, answers "
                       "the first answer again (its status and body, with "
                       "`Idempotent-Replayed: true`) and does not run the command twice; a "
                       "refusal (404, 409, 412) is kept and replayed too. The same key with "
                       "another body is 422 idempotency-key-reused; while the first request "
                       "runs, 409 idempotency-key-in-flight. 1 to 255 printable characters "
                       "(a UUID is a good key); anything else is 422 naming the header.",
        # The app takes any printable characters; a header value carries visible ASCII
        # and inner spaces reliably, and HTTP strips spaces at either end.
        "schema": {"type": "string", "minLength": 1, "maxLength": 255,
                   "pattern": "^[!-~]([ -~]*[!-~])?$"},
        "example": "5f0c1e9a-7a43-4d6e-9a55-0d1f3c2b8e61"},
    IF_MATCH: {
        "name": "If-Match", "in": "header", "required": False,
        "description": "The version this change is based on (the `ETag` of the last read, "
                       "or the `version` of the last acknowledgement): `\"3\"` or `3` "
                       "(`W/\"3\"` too; `*` is ignored). Without it the change applies to "
                       "whatever version is current. A version that is no longer current "
                       "is 412 precondition-failed, with `current_version`; a value that "
                       "names no version is 422 naming the header.",
        "schema": {"type": "string", "pattern": "^(\\*|(W/)?\"[0-9]{1,10}\"|[0-9]{1,10})$"},
        "example": "\"3\""},
    CONSISTENCY_TOKEN: {
        "name": "Consistency-Token", "in": "header", "required": False,
        "description": "The `Consistency-Token` of a command's reply: the answer then "
                       "reflects that command and every command of the tenant committed "
                       "before it. The server waits up to `Prefer: wait` for the read "
                       "models behind the answer to catch up, else answers 503 "
                       "not-yet-consistent. Another tenant's or a malformed token is 400 "
                       "invalid-consistency-token. Without it the answer never waits.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 200}},
    PREFER_WAIT: {
        "name": "Prefer", "in": "header", "required": False,
        "description": "`wait=<seconds>` (RFC 7240): how long to wait for a "
                       "Consistency-Token (default 2, at most 10; a larger value waits 10). "
                       "Other preferences are ignored.",
        "schema": {"type": "string"}, "example": "wait=5"},
    IF_NONE_MATCH: {
        "name": "If-None-Match", "in": "header", "required": False,
        "description": "The `ETag` of an earlier answer: 304 Not Modified, with no body, "
                       "while the answer is still the same (`*` matches any).",
        # Any value: a tag this server never issued matches nothing.
        "schema": {"type": "string"}, "example": "\"3\""},
}
_RESPONSE_HEADERS: dict[str, dict[str, Any]] = {
    CONSISTENCY_REPLY: {
        "description": "Send it as the `Consistency-Token` header of a later query to "
                       "read this command's effects in read-model answers (opaque).",
        "schema": {"type": "string"}},
    RETRY_AFTER: {"description": "Seconds after which a retry may succeed.",
                  "schema": {"type": "integer"}},
    ETAG: {"description": "The answer's version tag, for If-None-Match.",
           "schema": {"type": "string"}},
    REPLAYED: {
        "description": "`true` when this is the kept answer to an earlier request with "
                       "the same Idempotency-Key: the command did not run again. Absent "
                       "otherwise.",
        "schema": {"type": "string", "enum": ["true"]}},
}


def problem_response(description: str, *, schema: Any = None,
                     **extra: Any) -> dict[str, Any]:
    """An OpenAPI response answered as problem+json (``extra``: headers, examples...).

    ``schema`` narrows the ``Problem`` schema (see ``conflict_response``).
    """
    return {"description": description,
            "content": {PROBLEM_JSON: {"schema": schema or ProblemSchema}}, **extra}


def _shared_response(status: HTTPStatus) -> dict[str, Any]:
    """The shared response component of ``status``, as ``ProblemApi`` declares it."""
    return problem_response(_MEANINGS.get(status, status.phrase), **_headers(status))


def _headers(status: HTTPStatus) -> dict[str, Any]:
    return {"headers": _HEADERS[status]} if status in _HEADERS else {}


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
            components.response(status.name, _shared_response(status), lazy=True)
        components.response(self.DEFAULT_ERROR_RESPONSE_NAME, problem_response(
            "Any other error, as RFC 9457 problem details."), lazy=True)
        for name, parameter in _PARAMETERS.items():
            components.parameter(name, parameter["in"], parameter, lazy=True)
        for name, header in _RESPONSE_HEADERS.items():
            components.header(name, header, lazy=True)


def conflicts(*rules: type[DomainError]) -> Callable[[F], F]:
    """Document the business rules a command may refuse with: its 409's ``type`` is one
    of them, or idempotency-key-in-flight (which any command may answer).

    Name the rule classes the view and its command's handler raise (constraint errors
    included); tests/api/test_openapi_problems.py compares them with the code.
    """
    for rule in rules:
        if rule.status != HTTPStatus.CONFLICT:
            raise TypeError(f"{rule.__name__} is answered with {rule.status}, not 409.")
    return _documented({int(HTTPStatus.CONFLICT): conflict_response(*rules)})


def if_match(view: F) -> F:
    """Document that ``view`` honours If-Match: the header, and 412 for a stale version.

    Every view that calls ``commands.expected_version()`` carries it (a test checks).
    The 412 is declared here; ``ErrorResponsesPlugin`` gives every operation that
    answers 412 the If-Match parameter, since nothing else makes a 412.
    """
    status = HTTPStatus.PRECONDITION_FAILED
    return _documented({int(status): status.name})(view)


def conditional(view: F) -> F:
    """Document that ``view`` answers an ETag and honours If-None-Match with 304."""
    decorate: Callable[[F], F] = ApiBlueprint.doc(**{_CONDITIONAL: True})
    return decorate(view)


def read_model_answer(view: F) -> F:
    """Document a query answered from read models: ``meta``'s headers, its 400 and 503.

    Such a view calls ``consistency.await_read_models``; it answers an ETag too.
    """
    decorate: Callable[[F], F] = ApiBlueprint.doc(**{_READS_READ_MODELS: True,
                                                     _CONDITIONAL: True})
    return decorate(view)


# Response headers are written out where they are used: some readers of the document
# (schemathesis among them) do not follow a header $ref inside an operation's response.
_NOT_YET_CONSISTENT = problem_response(
    "The read models had not applied the Consistency-Token's changes within the wait "
    "(not-yet-consistent); retry after `Retry-After` seconds.",
    headers={"Retry-After": _RESPONSE_HEADERS[RETRY_AFTER]})
RATE_LIMITED = problem_response(
    "Too many commands with this key, or too many refused keys from this address "
    "(rate-limited); retry after `Retry-After` seconds.",
    headers={"Retry-After": {**_RESPONSE_HEADERS[RETRY_AFTER], "required": True}})
_BAD_TOKEN = problem_response(
    "The Consistency-Token is malformed or another tenant's (invalid-consistency-token).")
_NOT_MODIFIED = {"description": "Not Modified: the answer still has the If-None-Match "
                                "ETag (no body).", "headers": {"ETag": ETAG}}


def _documented(responses: dict[int, Any]) -> Callable[[F], F]:
    # flask-smorest merges these into what the view's other decorators document.
    decorate: Callable[[F], F] = ApiBlueprint.doc(responses=responses)
    return decorate


def conflict_response(*rules: type[DomainError]) -> dict[str, Any]:
    """The 409 of a command that may refuse with ``rules``: ``type`` is one of them."""
    refusals: tuple[type[DomainError], ...] = (*rules, IdempotencyKeyInFlight)
    listed = "\n".join(f"- `{rule.type}`: {_summary(rule)}" for rule in refusals)
    types = list(dict.fromkeys(TYPE_PREFIX + rule.type for rule in refusals))
    schema = {"allOf": [ProblemSchema, {"properties": {"type": {"enum": types}}}]}
    return problem_response("The command was refused; `type` names why:\n\n" + listed,
                            schema=schema)


def _summary(rule: type[DomainError]) -> str:
    # The first line of the rule's docstring says what the rule is.
    return inspect.cleandoc(rule.__doc__ or rule.title).splitlines()[0]


# What each kind of operation can answer, by the rules every endpoint shares.
_COMMAND_METHODS = {"post", "put", "patch", "delete"}  # API.md: commands
_BODY_METHODS = {"post", "put", "patch"}  # vitalbridge/http/content_type.py
# The refusals an Idempotency-Key keeps and replays (messaging/idempotency.py `keeps`).
_REPLAYED_REFUSALS = {HTTPStatus.NOT_FOUND, HTTPStatus.CONFLICT,
                      HTTPStatus.PRECONDITION_FAILED}

Responses = dict[int | str, Any]


class ErrorResponsesPlugin(BasePlugin):
    """Documents the errors an operation answers because of what kind of operation it is,
    and the headers that go with them."""

    _schemas: SchemaResolver

    def init_spec(self, spec: APISpec) -> None:
        """Find the marshmallow plugin: responses added here come after its pass."""
        super().init_spec(spec)
        marshmallow = next(plugin for plugin in spec.plugins
                           if isinstance(plugin, MarshmallowPlugin))
        assert marshmallow.resolver is not None, "MarshmallowPlugin sets it up first"
        assert marshmallow.converter is not None
        self._schemas = marshmallow.resolver
        self._links = LinkBook()
        marshmallow.converter.add_parameter_attribute_function(_empty_means_absent)

    def schema_helper(self, name: str, definition: dict[str, Any],
                      **kwargs: Any) -> dict[str, Any] | None:
        """A body schema's rules across its fields (``JSON_SCHEMA_RULES``: oneOf, not),
        which no single field can state."""
        schema = kwargs.get("schema")
        rules = getattr(schema, "JSON_SCHEMA_RULES", None)
        return dict(rules) if rules else None

    def operation_helper(self, path: str | None = None,
                         operations: dict[str, Any] | None = None, **kwargs: Any) -> None:
        """Add the implied error responses and headers to each of ``operations``."""
        for method, operation in (operations or {}).items():
            responses: Responses = {_status_key(status): response for status, response
                                    in operation.get("responses", {}).items()}
            for status in _implied_errors(path or "", method, operation):
                responses.setdefault(int(status), status.name)
            parameters = operation.setdefault("parameters", [])
            if method in _COMMAND_METHODS:
                responses.setdefault(int(HTTPStatus.CONFLICT), conflict_response())
                responses = _replayable(responses)
                parameters.append(IDEMPOTENCY_KEY)
            if operation.pop(_READS_READ_MODELS, False):
                responses[int(HTTPStatus.BAD_REQUEST)] = _BAD_TOKEN
                responses[int(HTTPStatus.SERVICE_UNAVAILABLE)] = _NOT_YET_CONSISTENT
                parameters += [CONSISTENCY_TOKEN, PREFER_WAIT]
            if operation.pop(_CONDITIONAL, False):
                responses[int(HTTPStatus.NOT_MODIFIED)] = _NOT_MODIFIED
                parameters.append(IF_NONE_MATCH)
                _tag_success(responses)
            if HTTPStatus.PRECONDITION_FAILED in responses:  # only If-Match makes a 412
                parameters.append(IF_MATCH)
            if not parameters:
                del operation["parameters"]
            for response in responses.values():
                self._schemas.resolve_response(response)  # ProblemSchema -> its $ref
            operation["responses"] = dict(sorted(responses.items(), key=_response_order))
            self._links.add(path or "", method, operation["responses"])


def _empty_means_absent(converter: Any, field: fields.Field, ret: dict[str, Any],
                        **kwargs: Any) -> dict[str, Any]:
    # validators.QueryArgs: `?specialty=` is the argument not given, for every optional one.
    if ret.get("in") == "query" and not field.required:
        return {"allowEmptyValue": True}
    return {}


def _tag_success(responses: Responses) -> None:
    """Say that the 200 answer carries the ETag that If-None-Match compares."""
    ok = responses.get(int(HTTPStatus.OK))
    if isinstance(ok, dict):
        ok.setdefault("headers", {})["ETag"] = ETAG


def _implied_errors(path: str, method: str, operation: dict[str, Any]) -> list[HTTPStatus]:
    """The errors an operation can answer for its method, its path and its body."""
    statuses = [HTTPStatus.REQUEST_URI_TOO_LONG]  # any target: http/request_limits.py
    if "{" in path:  # an id that names nothing (or no route: a malformed one)
        statuses.append(HTTPStatus.NOT_FOUND)
    if method in _COMMAND_METHODS:  # Idempotency-Key malformed or reused (409: see above)
        statuses.append(HTTPStatus.UNPROCESSABLE_ENTITY)
    if method in _BODY_METHODS:  # a body not JSON, or larger than MAX_CONTENT_LENGTH
        statuses += [HTTPStatus.UNSUPPORTED_MEDIA_TYPE, HTTPStatus.REQUEST_ENTITY_TOO_LARGE]
    if "requestBody" in operation:  # parsed by webargs: malformed JSON
        statuses.append(HTTPStatus.BAD_REQUEST)
    return statuses


def _replayable(responses: Responses) -> Responses:
    """``responses`` with ``Idempotent-Replayed`` on the answers a key can replay."""
    return {status: _with_replayed(status, response) if _replays(status) else response
            for status, response in responses.items()}


def _replays(status: int | str) -> bool:
    return status != "default" and (200 <= int(status) < 300
                                    or status in _REPLAYED_REFUSALS)


def _with_replayed(status: int | str, response: Any) -> Any:
    if isinstance(response, str):  # a shared component, named after its status
        if response != HTTPStatus(int(status)).name:
            return response
        response = _shared_response(HTTPStatus(int(status)))
    headers = {**response.get("headers", {}), "Idempotent-Replayed": REPLAYED}
    if 200 <= int(status) < 300:  # a command's acknowledgement
        headers["Consistency-Token"] = CONSISTENCY_REPLY
    return {**response, "headers": headers}


def _status_key(status: int | str) -> int | str:
    return int(status) if str(status).isdigit() else status


def _response_order(item: tuple[int | str, Any]) -> tuple[bool, str]:
    # Successes, then errors by status, then default: the order of a reader's questions.
    return str(item[0]) == "default", str(item[0])
