"""The served OpenAPI document describes errors as the app answers them: RFC 9457.

Every error response it declares (shared or inline, 4xx, 5xx and ``default``) is
``application/problem+json`` with the ``Problem`` schema; the errors the app really
answers are declared for the operation that answers them, and their bodies validate
against that schema. That the document is valid OpenAPI 3.1 is checked by
tests/api/test_operations.py::test_openapi_document_is_valid_3_1.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator

from tests.conftest import bearer
from tests.factories import TenantHandle
from tests.provider_factories import ProviderFactory, ProviderHandle

PROBLEM_JSON = "application/problem+json"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
HTTP_METHODS = ("get", "put", "post", "patch", "delete")


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


def test_every_error_response_is_problem_json_with_the_problem_schema(
        document: dict[str, Any]) -> None:
    checked, wrong = 0, []
    for method, path, operation in _operations(document):
        assert "default" in operation["responses"], f"{method} {path}"
        for status, response in operation["responses"].items():
            if _is_error(status):
                checked += 1
                content = _resolved(document, response).get("content")
                if content != {PROBLEM_JSON: {"schema": PROBLEM_REF}}:
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
    """(METHOD, documented path, response) of one real request per error status."""
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


def test_the_errors_the_app_answers_are_documented_and_match_the_problem_schema(
        client: FlaskClient, document: dict[str, Any], tenant: TenantHandle,
        platform_key: str, provider: ProviderHandle) -> None:
    problem = Draft202012Validator(document["components"]["schemas"]["Problem"],
                                   format_checker=Draft202012Validator.FORMAT_CHECKER)
    seen = set()
    for method, path, response in _errors_answered(client, tenant, platform_key, provider):
        status = str(response.status_code)
        seen.add(status)
        assert response.content_type == PROBLEM_JSON, (method, path, status)
        assert not list(problem.iter_errors(response.get_json())), response.get_json()
        documented = document["paths"][path][method.lower()]["responses"]
        # 412 depends on whether the view reads If-Match: only `default` covers it.
        assert status in documented or status == "412", f"{method} {path} {status}"
    assert seen == {"400", "401", "403", "404", "409", "412", "413", "415", "422"}
