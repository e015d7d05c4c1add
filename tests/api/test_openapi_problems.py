"""The served OpenAPI document describes errors as the app answers them: RFC 9457.

Every error response it declares (shared or inline, 4xx, 5xx and ``default``) is
``application/problem+json`` with the ``Problem`` schema; the errors the app really
answers are declared for the operation that answers them, and their bodies validate
against that schema. A command's 409 narrows the schema to the rules it may refuse
with (``error_docs.conflicts``), and those are compared with what the code can raise; If-Match
and its 412 are documented exactly where a view reads it (``error_docs.if_match``), and every
command takes an Idempotency-Key. That the document is valid OpenAPI 3.1 is checked by
tests/api/test_operations.py::test_openapi_document_is_valid_3_1.
"""

from __future__ import annotations

import inspect
import re
import uuid
from collections.abc import Callable, Iterator
from types import CodeType
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator

from tests.conftest import bearer
from tests.factories import TenantHandle
from tests.provider_factories import ProviderFactory, ProviderHandle
from vitalbridge.appointment import handlers as appointment
from vitalbridge.bootstrap import DOMAINS
from vitalbridge.http import commands
from vitalbridge.http.error_docs import conflicts
from vitalbridge.http.problems import TYPE_PREFIX
from vitalbridge.messaging.errors import DomainError, IdempotencyKeyInFlight, VersionMismatch
from vitalbridge.patient.handlers import MrnTaken, PossibleDuplicate
from vitalbridge.schedule.handlers import IllegalTransition as LeaveIllegalTransition
from vitalbridge.tenant.handlers import LastAdminKey, SlugTaken

PROBLEM_JSON = "application/problem+json"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
HTTP_METHODS = ("get", "put", "post", "patch", "delete")
COMMAND_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
IN_FLIGHT = IdempotencyKeyInFlight.type


@pytest.fixture(scope="module")
def document(app: Flask) -> dict[str, Any]:
    """The OpenAPI document the app serves."""
    served: dict[str, Any] = app.test_client().get("/openapi.json").get_json()
    return served


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in (m for m in item if m in HTTP_METHODS):
            yield method.upper(), path, item[method]


def _resolved(document: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    if "$ref" not in response:
        return response
    shared: dict[str, Any] = document["components"]["responses"]
    return shared[response["$ref"].rsplit("/", 1)[-1]]


def _is_error(status: str) -> bool:
    return status == "default" or status[0] in "45"


def _problem_schema(content: dict[str, Any] | None) -> dict[str, Any] | None:
    """The schema of a problem+json response: ``Problem``, or ``Problem`` narrowed."""
    if not content or set(content) != {PROBLEM_JSON}:
        return None
    schema: dict[str, Any] = content[PROBLEM_JSON]["schema"]
    if schema == PROBLEM_REF or schema.get("allOf", [None])[0] == PROBLEM_REF:
        return schema
    return None


def _documented_response(document: dict[str, Any], method: str, path: str,
                         status: str) -> dict[str, Any]:
    return _resolved(document, document["paths"][path][method.lower()]["responses"][status])


def _rule_types(document: dict[str, Any], method: str, path: str) -> set[str]:
    """The `type` values (last segment) the operation's 409 lists."""
    schema = _documented_response(document, method, path, "409")["content"][PROBLEM_JSON]
    narrowed = schema["schema"]["allOf"][1]["properties"]["type"]["enum"]
    assert all(t.startswith(TYPE_PREFIX) for t in narrowed), narrowed
    return {t.removeprefix(TYPE_PREFIX) for t in narrowed}


def test_every_error_response_is_problem_json_with_the_problem_schema(
        document: dict[str, Any]) -> None:
    checked, wrong = 0, []
    for method, path, operation in _operations(document):
        assert "default" in operation["responses"], f"{method} {path}"
        for status, response in operation["responses"].items():
            if _is_error(status):
                checked += 1
                content = _resolved(document, response).get("content")
                if _problem_schema(content) is None:
                    wrong.append(f"{method} {path} {status}: {content}")
    assert not wrong, f"{len(wrong)} error responses not Problem, e.g. {wrong[:3]}"
    assert checked > 100  # every operation, several statuses each
    # flask-smorest's own error schema is gone, not merely unused.
    assert "Error" not in document["components"]["schemas"]


def test_the_problem_schema_is_rfc_9457_with_the_app_s_members(
        document: dict[str, Any]) -> None:
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status"}
    assert problem["properties"]["status"]["type"] == "integer"
    assert problem["properties"]["errors"]["additionalProperties"] == {
        "type": "array", "items": {"type": "string"}}
    assert {"detail", "request_id", "current_version"} <= problem["properties"].keys()
    assert problem["additionalProperties"] is True  # RFC 9457 extension members


def test_guarded_operations_document_401_with_its_challenge_and_403_with_the_roles(
        document: dict[str, Any]) -> None:
    for method, path, operation in _operations(document):
        responses = operation["responses"]
        unauthorized = _resolved(document, responses["401"])
        assert unauthorized["headers"]["WWW-Authenticate"]["required"], f"{method} {path}"
        assert "allowed:" in responses["403"]["description"], f"{method} {path}"
    tenants = document["paths"]["/api/v1/tenants"]["post"]["responses"]["403"]
    assert "allowed: platform_admin " in tenants["description"]
    booking = document["paths"]["/api/v1/appointments"]["post"]["responses"]["403"]
    assert "allowed: admin, staff " in booking["description"]


def test_commands_document_what_any_command_can_answer(document: dict[str, Any]) -> None:
    paths = document["paths"]
    check_in = paths["/api/v1/appointments/{appointment_id}/check-in"]["post"]["responses"]
    assert {"404", "409", "413", "415", "422"} <= check_in.keys()
    assert "400" not in check_in  # no body is parsed, so none is malformed
    booking = paths["/api/v1/appointments"]["post"]["responses"]
    assert {"400", "409", "413", "415", "422"} <= booking.keys()
    assert "404" not in booking  # no id in the path
    removal = paths["/api/v1/providers/{provider_id}/overrides/{day}"]["delete"]["responses"]
    assert {"404", "409", "422"} <= removal.keys()
    assert "415" not in removal  # content_type.py checks bodies of POST, PUT, PATCH only
    listing = paths["/api/v1/appointments"]["get"]["responses"]
    assert not {"400", "409", "413", "415"} & listing.keys()
    assert list(booking) == sorted(booking, key=lambda status: (status == "default", status))


@pytest.fixture
def provider(app: Flask, tenant: TenantHandle) -> ProviderHandle:
    with app.app_context():
        created: ProviderHandle = ProviderFactory.create(tenant_id=tenant.id)
        return created


def _errors_answered(client: FlaskClient, tenant: TenantHandle, platform_key: str,
                     provider: ProviderHandle) -> Iterator[tuple[str, str, Any]]:
    """(METHOD, documented path, response) of one real request per error status, and of
    several business rules."""
    admin = bearer(tenant.admin_key)
    one = "/api/v1/providers/{provider_id}"
    yield "GET", "/api/v1/providers", client.get("/api/v1/providers")
    yield "POST", "/api/v1/tenants", client.post(
        "/api/v1/tenants", json={"name": "X", "slug": "x-clinic", "timezone": "UTC"},
        headers=admin)
    yield "GET", one, client.get(f"/api/v1/providers/{uuid.uuid4()}", headers=admin)
    yield "POST", "/api/v1/providers", client.post(
        "/api/v1/providers", data="{not json", content_type="application/json", headers=admin)
    yield "POST", "/api/v1/providers", client.post(
        "/api/v1/providers", data="given_name=A", content_type="text/plain", headers=admin)
    yield "POST", "/api/v1/providers", client.post(
        "/api/v1/providers", json={"given_name": "x" * 1_100_000}, headers=admin)
    yield "POST", "/api/v1/providers", client.post(
        "/api/v1/providers", json={"given_name": 7}, headers=admin)
    yield "POST", "/api/v1/tenants", client.post(
        "/api/v1/tenants", json={"name": "Twin", "slug": tenant.slug, "timezone": "UTC"},
        headers=bearer(platform_key))
    yield "PATCH", one, client.patch(
        f"/api/v1/providers/{provider.id}", json={"specialty": "Oncology"},
        headers={**admin, "If-Match": '"99"'})
    admin_key_id = tenant.admin_key.split("_", 3)[2]  # vbk_<tenant>_<key id>_<secret>
    yield "POST", "/api/v1/api-keys/{key_id}/revoke", client.post(
        f"/api/v1/api-keys/{uuid.UUID(admin_key_id)}/revoke", headers=admin)
    patient = {"given_name": "Ada", "family_name": "Byron", "birth_date": "1990-12-10"}
    assert client.post("/api/v1/patients", json=patient, headers=admin).status_code == 201
    yield "POST", "/api/v1/patients", client.post("/api/v1/patients", json=patient,
                                                  headers=admin)


def test_the_errors_the_app_answers_are_documented_and_match_their_schema(
        client: FlaskClient, document: dict[str, Any], tenant: TenantHandle,
        platform_key: str, provider: ProviderHandle) -> None:
    seen, rules = set(), set()
    for method, path, response in _errors_answered(client, tenant, platform_key, provider):
        status = str(response.status_code)
        seen.add(status)
        assert response.content_type == PROBLEM_JSON, (method, path, status)
        documented = document["paths"][path][method.lower()]["responses"]
        assert status in documented, f"{method} {path} {status}"
        # The operation's own schema for the status: Problem, or a 409's narrowed one.
        schema = _problem_schema(_resolved(document, documented[status])["content"])
        assert schema is not None
        validator = Draft202012Validator({**schema, "components": document["components"]},
                                         format_checker=Draft202012Validator.FORMAT_CHECKER)
        body = response.get_json()
        assert not list(validator.iter_errors(body)), (method, path, body)
        if status == "409":
            rules.add(body["type"].removeprefix(TYPE_PREFIX))
    assert seen == {"400", "401", "403", "404", "409", "412", "413", "415", "422"}
    assert rules == {SlugTaken.type, LastAdminKey.type, PossibleDuplicate.type}


def test_a_409_of_another_rule_does_not_match_the_operation_s_schema(
        document: dict[str, Any]) -> None:
    # The narrowing is what makes the fuzz test check 409 types: it must really refuse.
    schema = _documented_response(document, "POST", "/api/v1/tenants", "409")
    validator = Draft202012Validator({**schema["content"][PROBLEM_JSON]["schema"],
                                      "components": document["components"]})
    answer = {"title": "Conflict", "status": 409}
    assert validator.is_valid({**answer, "type": TYPE_PREFIX + "slug-taken"})
    assert not validator.is_valid({**answer, "type": TYPE_PREFIX + "slot-unavailable"})


# --- What each view reads and can refuse with, found in the code itself ----------------


def _views(app: Flask) -> Iterator[tuple[str, str, Callable[..., Any]]]:
    """(METHOD, documented path, view function) of every route."""
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) & {m.upper() for m in HTTP_METHODS}):
            yield method, path, app.view_functions[rule.endpoint]


def _names(code: CodeType) -> Iterator[str]:
    yield from code.co_names
    for constant in code.co_consts:  # lambdas, generator expressions, nested functions
        if isinstance(constant, CodeType):
            yield from _names(constant)


_HANDLERS: dict[type, Callable[..., Any]] = {
    command: handler for handlers, _, _ in DOMAINS
    for command, handler in handlers.COMMAND_HANDLERS.items()}


def _reached(*functions: Callable[..., Any]) -> tuple[set[Any], set[type]]:
    """The functions and classes ``functions`` name, following the app's own functions
    and the handler of each command named, transitively.

    A view names the command it sends, the handler raises the rules: what is named is
    what can be raised (a class named only in an annotation is not a name in the code).
    """
    seen: set[Any] = set()
    classes: set[type] = set()
    todo = [inspect.unwrap(function) for function in functions]
    while todo:
        function = todo.pop()
        if function in seen:
            continue
        seen.add(function)
        named = [function.__globals__.get(name) for name in _names(function.__code__)]
        named += [cell.cell_contents for cell in function.__closure__ or ()]
        for target in named:
            if inspect.isfunction(target) and target.__module__.startswith("vitalbridge."):
                todo.append(inspect.unwrap(target))
            elif isinstance(target, type):
                classes.add(target)
                if target in _HANDLERS:
                    todo.append(_HANDLERS[target])
    return seen, classes


def _conflicts(classes: set[type]) -> set[str]:
    return {c.type for c in classes
            if issubclass(c, DomainError) and c is not DomainError and c.status == 409}


def _documented_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method, path) for method, path, _ in _operations(document)}


def test_every_documented_operation_is_a_view_the_walk_below_can_read(
        app: Flask, document: dict[str, Any]) -> None:
    views = {(method, path) for method, path, _ in _views(app)}
    assert _documented_operations(document) <= views
    reached, _ = _reached(*(view for _, _, view in _views(app)))
    assert commands.expected_version in reached  # the walk sees through the decorators


def test_if_match_and_412_are_documented_exactly_where_the_view_reads_if_match(
        app: Flask, document: dict[str, Any]) -> None:
    documented = _documented_operations(document)
    reading, refusing = set(), set()
    for method, path, view in _views(app):
        if (method, path) in documented:
            functions, classes = _reached(view)
            if commands.expected_version in functions:
                reading.add((method, path))
            if VersionMismatch in classes:  # messaging.errors.require_version
                refusing.add((method, path))
    taking = set()
    for method, path, operation in _operations(document):
        parameters = operation.get("parameters", [])
        if {"$ref": "#/components/parameters/IfMatch"} in parameters:
            taking.add((method, path))
        assert (("412" in operation["responses"]) == ((method, path) in taking)), (
            f"{method} {path}: If-Match and 412 go together")
    assert taking == reading, (f"documented, not read: {taking - reading}; "
                               f"read, not documented: {reading - taking}")
    assert reading == refusing  # what a view reads, its command's handler checks
    assert {("PATCH", "/api/v1/providers/{provider_id}"), ("PATCH", "/api/v1/settings"),
            ("POST", "/api/v1/appointments/{appointment_id}/cancel"),
            ("POST", "/api/v1/leave-requests/{leave_id}/approve")} <= taking
    assert ("POST", "/api/v1/appointments") not in taking
    assert ("DELETE", "/api/v1/providers/{provider_id}/overrides/{day}") not in taking
    if_match = document["components"]["parameters"]["IfMatch"]
    assert (if_match["name"], if_match["in"], if_match["required"]) == (
        "If-Match", "header", False)
    pattern = re.compile(if_match["schema"]["pattern"])
    assert all(pattern.search(v) for v in ('"3"', "3", 'W/"3"', "*"))
    assert not any(pattern.search(v) for v in ("", "three", '"3", "4"'))
    stale = _documented_response(document, "PATCH", "/api/v1/settings", "412")
    assert "precondition-failed" in stale["description"]


def test_every_command_takes_an_idempotency_key_and_marks_its_replays(
        document: dict[str, Any]) -> None:
    key_ref = {"$ref": "#/components/parameters/IdempotencyKey"}
    replayed = {"$ref": "#/components/headers/IdempotentReplayed"}
    commands_seen = 0
    for method, path, operation in _operations(document):
        takes_key = key_ref in operation.get("parameters", [])
        assert takes_key == (method in COMMAND_METHODS), f"{method} {path}"
        for status, response in operation["responses"].items():
            marked = replayed == _resolved(document, response).get(
                "headers", {}).get("Idempotent-Replayed")
            # Replayed: the acknowledgement and the refusals a key keeps.
            replayable = takes_key and (status[0] == "2" or status in {"404", "409", "412"})
            assert marked == replayable, f"{method} {path} {status}"
        commands_seen += takes_key
    assert commands_seen >= 20
    key = document["components"]["parameters"]["IdempotencyKey"]
    assert (key["name"], key["in"], key["required"]) == (
        commands.IDEMPOTENCY_HEADER, "header", False)
    assert (key["schema"]["minLength"], key["schema"]["maxLength"]) == (
        1, commands.MAX_IDEMPOTENCY_KEY)
    pattern = re.compile(key["schema"]["pattern"])
    assert pattern.search(str(uuid.uuid4()))
    assert pattern.search("order 42 / retry")
    assert not any(pattern.search(v) for v in ("", " padded", "tab\there", "nul\x00"))
    header = document["components"]["headers"]["IdempotentReplayed"]
    assert header["schema"] == {"type": "string", "enum": ["true"]}


def test_commands_list_the_rules_their_409_may_carry(document: dict[str, Any]) -> None:
    one = "/api/v1/appointments/{appointment_id}"
    booking = {appointment.ProviderInactive, appointment.InThePast, appointment.ShortNotice,
               appointment.ProviderOnLeave, appointment.OutsideWorkingHours,
               appointment.SlotUnavailable, appointment.PatientDoubleBooked}
    expected: dict[tuple[str, str], set[type[DomainError]]] = {
        ("POST", "/api/v1/appointments"): booking,
        ("POST", f"{one}/reschedule"): {*booking, appointment.IllegalTransition},
        ("POST", f"{one}/cancel"): {appointment.IllegalTransition},
        ("POST", f"{one}/no-show"): {appointment.IllegalTransition, appointment.TooEarly},
        ("POST", "/api/v1/patients"): {PossibleDuplicate, MrnTaken},
        ("POST", "/api/v1/api-keys/{key_id}/revoke"): {LastAdminKey},
        ("POST", "/api/v1/tenants"): {SlugTaken},
        ("POST", "/api/v1/leave-requests/{leave_id}/cancel"): {LeaveIllegalTransition},
        ("POST", "/api/v1/providers"): set(),  # no rule: only a busy key
    }
    for (method, path), rules in expected.items():
        types = {rule.type for rule in rules} | {IN_FLIGHT}
        assert _rule_types(document, method, path) == types, f"{method} {path}"
        description = _documented_response(document, method, path, "409")["description"]
        assert all(f"`{t}`" in description for t in types), description
    assert "earliest_start" in document["components"]["schemas"]["Problem"]["properties"]


def test_the_documented_rules_are_those_the_code_can_refuse_with(
        app: Flask, document: dict[str, Any]) -> None:
    # Exclusion and unique constraints refuse only under a race; their rules are named
    # in CONSTRAINT_ERRORS, not on the way from the view.
    constraints = _conflicts(set().union(*(
        _reached(*getattr(handlers, "CONSTRAINT_ERRORS", {}).values())[1]
        for handlers, _, _ in DOMAINS)))
    assert {appointment.SlotUnavailable.type, appointment.PatientDoubleBooked.type,
            MrnTaken.type} <= constraints
    # change_status serves four steps; only a no-show checks the start (TooEarly), by the
    # command's type, which a walk of names cannot tell apart.
    shared_handler = {appointment.TooEarly.type}
    documented_anywhere: set[str] = set()
    for method, path, view in _views(app):
        if method not in COMMAND_METHODS or (method, path) not in _documented_operations(
                document):
            continue
        documented = _rule_types(document, method, path)
        documented_anywhere |= documented
        raised = _conflicts(_reached(view)[1]) | {IN_FLIGHT}
        missing = raised - documented - (shared_handler if "/no-show" not in path else set())
        assert not missing, f"{method} {path} does not document {missing}"
        unreachable = documented - raised - constraints
        assert not unreachable, f"{method} {path} documents {unreachable}, never raised"
    assert constraints <= documented_anywhere
    # Every rule the app defines (and answers with 409) is documented, and only those.
    defined = _conflicts(set(_subclasses(DomainError)))
    assert documented_anywhere == defined


def _subclasses(cls: type[Any]) -> Iterator[type[Any]]:
    for sub in cls.__subclasses__():
        if sub.__module__.startswith("vitalbridge."):
            yield sub
        yield from _subclasses(sub)


def test_conflicts_names_409_rules_only() -> None:
    with pytest.raises(TypeError, match="412"):
        conflicts(VersionMismatch)
