"""Every error is RFC 9457 problem+json, with no stack trace (acceptance 5)."""

import uuid

import pytest

from tests.conftest import bearer
from vitalbridge import create_app
from vitalbridge.tenant import queries as tenant_queries
from vitalbridge.tenant.messages import format_api_key
from vitalbridge.tenant.secrets import secret_matches

PROBLEM = "application/problem+json"


def assert_problem(response, status):
    assert response.status_code == status
    assert response.content_type == PROBLEM
    body = response.json
    assert body["status"] == status
    assert body["title"]
    assert body["type"]
    assert "Traceback" not in response.get_data(as_text=True)
    return body


def test_no_key_is_401_with_challenge(client):
    body = assert_problem(client.get("/api/v1/api-keys"), 401)
    assert body["type"].endswith("unauthenticated")


@pytest.mark.parametrize("header", [
    "Bearer nonsense",
    "Basic dXNlcjpwYXNz",
    "Bearer vbk_" + "0" * 32 + "_" + "0" * 32 + "_" + "0" * 48,
])
def test_malformed_or_unknown_key_is_401(client, header):
    response = client.get("/api/v1/api-keys", headers={"Authorization": header})
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_wrong_secret_for_a_real_key_is_401(client, tenant):
    forged = tenant.admin_key[:-4] + "0000"
    assert_problem(client.get("/api/v1/api-keys", headers=bearer(forged)), 401)


def test_wrong_role_is_403(client, tenant):
    body = assert_problem(client.get("/api/v1/tenants", headers=bearer(tenant.admin_key)), 403)
    assert "platform_admin" in body["detail"]


def test_malformed_json_is_400(client, tenant):
    response = client.post("/api/v1/api-keys", data="{not json",
                           headers={**bearer(tenant.admin_key),
                                    "Content-Type": "application/json"})
    assert_problem(response, 400)


def test_bad_fields_are_422_naming_each_field(client, platform_key):
    response = client.post("/api/v1/tenants", headers=bearer(platform_key), json={
        "name": "  ", "slug": "Not A Slug!", "timezone": "Mars/Olympus_Mons", "owner": "x"})
    body = assert_problem(response, 422)
    assert set(body["errors"]) == {"name", "slug", "timezone", "owner"}


def test_missing_fields_are_422(client, platform_key):
    body = assert_problem(client.post("/api/v1/tenants", headers=bearer(platform_key),
                                      json={}), 422)
    assert set(body["errors"]) == {"name", "slug", "timezone"}


def test_body_that_is_not_an_object_is_422(client, platform_key):
    body = assert_problem(client.post("/api/v1/tenants", headers=bearer(platform_key),
                                      json=[1, 2]), 422)
    assert body["errors"]


def test_unknown_route_is_404(client):
    body = assert_problem(client.get("/api/v1/does-not-exist"), 404)
    assert body["type"] == "about:blank"
    assert "errors" not in body


def test_wrong_method_is_405_with_allow(client):
    response = client.delete("/api/v1/tenants")
    assert_problem(response, 405)
    assert {"GET", "POST"} <= {m.strip() for m in response.headers["Allow"].split(",")}


def test_oversized_body_is_413(client, platform_key):
    huge = {"name": "x" * 2_000_000, "slug": "big", "timezone": "UTC"}
    assert_problem(client.post("/api/v1/tenants", headers=bearer(platform_key), json=huge), 413)


def assert_malformed_id(response, parameter):
    body = assert_problem(response, 404)
    assert body["type"].endswith(":not-found")
    assert body["errors"] == {parameter: ["Not a valid UUID."]}
    assert f"{parameter} in the path is not an id" in body["detail"]


def test_bad_uuid_in_path_is_404_naming_the_parameter(client, platform_key):
    assert_malformed_id(client.get("/api/v1/tenants/not-a-uuid", headers=bearer(platform_key)),
                        "tenant_id")


@pytest.mark.parametrize(("method", "path", "parameter"), [
    ("POST", "/api/v1/api-keys/<key-id>/revoke", "key_id"),  # a placeholder left in
    ("POST", "/api/v1/api-keys/%3Ckey-id%3E/revoke", "key_id"),  # the same, as curl sends it
    ("GET", f"/api/v1/providers/{uuid.uuid4().hex}", "provider_id"),  # hex without hyphens
    ("PUT", "/api/v1/providers/42/overrides/2027-01-04", "provider_id"),
    ("POST", "/api/v1/appointments/my-visit/cancel", "appointment_id"),
])
def test_a_malformed_id_names_its_parameter(client, tenant, method, path, parameter):
    response = client.open(path, method=method, headers=bearer(tenant.admin_key), json={})
    assert_malformed_id(response, parameter)


def test_a_well_formed_id_of_nothing_is_a_plain_not_found(client, tenant):
    body = assert_problem(client.get(f"/api/v1/providers/{uuid.uuid4()}",
                                     headers=bearer(tenant.admin_key)), 404)
    assert body["type"].endswith(":not-found")
    assert "errors" not in body


def test_a_route_that_does_not_exist_even_with_ids_is_a_bare_404(client, tenant):
    body = assert_problem(client.get("/api/v1/providers/not-an-id/no-such-thing",
                                     headers=bearer(tenant.admin_key)), 404)
    assert body["type"] == "about:blank"


def test_bad_query_arguments_are_422(client, platform_key):
    body = assert_problem(client.get("/api/v1/tenants?limit=0", headers=bearer(platform_key)),
                          422)
    assert "limit" in body["errors"]
    body = assert_problem(client.get("/api/v1/tenants?cursor=garbage",
                                     headers=bearer(platform_key)), 422)
    assert "cursor" in body["errors"]


def test_unexpected_failure_is_a_bare_500(owner_url):
    app = create_app(database_url=owner_url, env="testing")

    @app.get("/boom-for-test")
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom-for-test")
    app.extensions["vitalbridge"].db.dispose()
    body = assert_problem(response, 500)
    assert "secret internals" not in response.get_data(as_text=True)
    assert body["request_id"]


def test_a_body_that_is_not_json_is_415(client, platform_key):
    response = client.post("/api/v1/tenants", data="name=x&slug=y",
                           headers={**bearer(platform_key),
                                    "Content-Type": "application/x-www-form-urlencoded"})
    body = assert_problem(response, 415)
    assert "application/json" in body["detail"]


def test_422_title_follows_rfc_9110(client, platform_key):
    body = assert_problem(client.post("/api/v1/tenants", headers=bearer(platform_key),
                                      json={}), 422)
    assert body["title"] == "Unprocessable Content"


def _unknown_key(tenant_id):
    return format_api_key(tenant_id, uuid.uuid4(), "0" * 48)


@pytest.mark.parametrize("which", ["unknown-tenant-key", "unknown-platform-key",
                                   "wrong-secret", "unknown-key-of-a-real-tenant"])
def test_every_refused_key_costs_one_secret_comparison(client, tenant, monkeypatch, which):
    # Timing must not tell which key ids exist: an unknown id's secret is hashed and
    # compared like a real key's wrong one.
    compared = []

    def counting(secret, stored_hash):
        compared.append(stored_hash)
        return secret_matches(secret, stored_hash)

    monkeypatch.setattr(tenant_queries, "secret_matches", counting)
    key = {"unknown-tenant-key": _unknown_key(uuid.uuid4()),
           "unknown-platform-key": _unknown_key(None),
           "wrong-secret": tenant.admin_key[:-4] + "0000",
           "unknown-key-of-a-real-tenant": _unknown_key(tenant.id)}[which]
    assert_problem(client.get("/api/v1/api-keys", headers=bearer(key)), 401)
    assert len(compared) == 1


def test_a_target_too_long_is_414_problem_json(client, tenant):
    long_query = "q=" + "a" * 8100
    response = client.get(f"/api/v1/patients?{long_query}", headers=bearer(tenant.admin_key))
    body = assert_problem(response, 414)
    assert "8000" in body["detail"]
    assert client.get("/api/v1/patients?q=" + "a" * 3000,
                      headers=bearer(tenant.admin_key)).status_code == 422  # q: 100 at most
