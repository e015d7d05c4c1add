"""Property-based fuzzing of the app's own OpenAPI document with schemathesis.

Every operation the served document lists gets generated requests: valid ones, invalid
ones, and valid ones aimed at seeded rows (real ids in the path, query and body, a free
half hour, a week around the rows). Each response must not be a server error and must
be what the document promises: a documented status, a documented content type,
documented headers, and a body that validates against the documented schema. The
operations are read from the document itself, so a new endpoint is fuzzed without
editing this file. Generation is derandomized: CI replays the same requests each run.

Error answers are checked like the others: the document declares them as problem+json
with its Problem schema (tests/api/test_openapi_problems.py checks that it does).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.schemas import APIOperation, BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.appointment_factories import AppointmentFactory, AppointmentHandle, next_monday
from tests.conftest import bearer
from tests.factories import ApiKeyFactory, KeyHandle, TenantHandle
from tests.patient_factories import PatientFactory, PatientHandle
from tests.provider_factories import ProviderFactory, ProviderHandle
from tests.schedule_factories import AckHandle, LeaveRequestFactory, WorkingHoursFactory
from vitalbridge import create_app

SPEC_PATH = "/openapi.json"
HTTP_METHODS = ("get", "put", "post", "patch", "delete")
# Operations under this prefix belong to the platform admin; a tenant admin does the rest.
PLATFORM_PREFIX = "/api/v1/tenants"
# Per operation: enough to reach each field and each of the three kinds of request a few
# times; 40 operations x 20 requests keep the whole file well under a minute.
MAX_EXAMPLES = 20

CHECKS: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

def _documented_operations() -> list[tuple[str, str]]:
    """(METHOD, path) of every operation in the served document, read at collection."""
    # The document is built from the routes alone: this app never opens a connection
    # (test_every_documented_operation_is_fuzzed compares it with the real app's).
    app = create_app(database_url="postgresql+psycopg://spec-only@localhost/unused",
                     env="testing")
    document = app.test_client().get(SPEC_PATH).get_json()
    return [(method.upper(), path)
            for path, item in document["paths"].items()
            for method in item if method in HTTP_METHODS]


OPERATIONS = _documented_operations()


@dataclass(frozen=True)
class Seeded:
    """A tenant with one row of each kind, the keys that may act on them, and the values
    (ids, a zone, a free half hour, a week around the rows) that reach them."""

    tenant_key: str
    platform_key: str
    path_parameters: dict[str, str]
    fields: dict[str, str]


@pytest.fixture(scope="module")
def served_document(app: Flask) -> dict[str, Any]:
    """The OpenAPI document the app under test serves."""
    response = app.test_client().get(SPEC_PATH)
    assert response.status_code == 200
    document: dict[str, Any] = response.get_json()
    return document


@pytest.fixture(scope="module")
def api_schema(app: Flask, served_document: dict[str, Any]) -> BaseSchema:
    """The served document, its requests sent to the app."""
    # What schemathesis.openapi.from_wsgi does, without fetching the document again.
    schema = schemathesis.openapi.from_dict(served_document)
    schema.app = app
    schema.location = SPEC_PATH
    return schema


@pytest.fixture
def seeded(app: Flask, tenant: TenantHandle, platform_key: str) -> Seeded:
    """A provider working weekdays, a patient, an appointment, a leave request, a key."""
    monday = next_monday(weeks_ahead=2)
    booked = datetime.combine(monday.date(), time(15), tzinfo=UTC)  # 10:00 in New York
    with app.app_context():
        provider: ProviderHandle = ProviderFactory.create(tenant_id=tenant.id)
        WorkingHoursFactory.create(tenant_id=tenant.id, provider_id=provider.id)
        patient: PatientHandle = PatientFactory.create(tenant_id=tenant.id)
        appointment: AppointmentHandle = AppointmentFactory.create(
            tenant_id=tenant.id, provider_id=provider.id, patient_id=patient.id, start=booked)
        leave: AckHandle = LeaveRequestFactory.create(
            tenant_id=tenant.id, provider_id=provider.id,
            start=booked + timedelta(days=3), end=booked + timedelta(days=4))
        key: KeyHandle = ApiKeyFactory.create(tenant_id=tenant.id)
    free = booked + timedelta(days=1)  # Tuesday 10:00 in New York: working, not booked
    return Seeded(
        tenant_key=tenant.admin_key, platform_key=platform_key,
        path_parameters={
            "tenant_id": str(tenant.id), "key_id": str(key.id),
            "provider_id": str(provider.id), "patient_id": str(patient.id),
            "appointment_id": str(appointment.id), "leave_id": str(leave.id),
            "day": free.date().isoformat()},
        fields={
            "provider_id": str(provider.id), "patient_id": str(patient.id),
            "timezone": "America/New_York",
            "start": free.isoformat(), "end": (free + timedelta(minutes=30)).isoformat(),
            "from": monday.replace(tzinfo=UTC).isoformat(),
            "to": (monday.replace(tzinfo=UTC) + timedelta(days=7)).isoformat()})


def _aimed_at(fields: dict[str, str]) -> Callable[[Case], Case]:
    """Put the seeded values into the query and body fields of the same names."""
    # Random ids find nothing, random zone names are refused, and random instants fall
    # outside working hours or the accepted years: the code past those checks is
    # reached only this way.
    def aim(case: Case) -> Case:
        for container in (case.query, case.body):
            if isinstance(container, dict):
                for name in container.keys() & fields.keys():
                    value = fields[name]
                    container[name] = [value] if isinstance(container[name], list) else value
        return case

    return aim


def _requests(operation: APIOperation, seeded: Seeded) -> st.SearchStrategy[Case]:
    """Valid requests, invalid ones, and valid ones aimed at the seeded rows, mixed."""
    names = [parameter.name for parameter in operation.path_parameters]
    aimed = operation.as_strategy(
        GenerationMode.POSITIVE,
        path_parameters={name: seeded.path_parameters[name] for name in names})
    return st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                     operation.as_strategy(GenerationMode.NEGATIVE),
                     aimed.map(_aimed_at(seeded.fields)))


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_keeps_its_documented_promises(method: str, path: str,
                                                 api_schema: BaseSchema,
                                                 seeded: Seeded) -> None:
    operation = api_schema[path][method]
    key = seeded.platform_key if path.startswith(PLATFORM_PREFIX) else seeded.tenant_key

    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(case=_requests(operation, seeded))
    def answers_as_documented(case: Case) -> None:
        case.call_and_validate(headers=bearer(key), checks=CHECKS)

    answers_as_documented()


def test_every_documented_operation_is_fuzzed(served_document: dict[str, Any]) -> None:
    # The list above comes from an app without a database; the real one must agree.
    served = {(method.upper(), path)
              for path, item in served_document["paths"].items()
              for method in item if method in HTTP_METHODS}
    assert served == set(OPERATIONS)
    assert any(path.startswith(PLATFORM_PREFIX) for _, path in OPERATIONS)
