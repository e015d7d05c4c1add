"""CORS: no answer carries CORS headers unless CORS_ALLOWED_ORIGINS lists the origin."""

import pytest

from config.settings import SettingsError, load_settings
from tests.conftest import bearer
from vitalbridge import create_app

ALLOWED = "https://desk.northside.example"
OTHER = "https://evil.example"


@pytest.fixture
def cors_client(owner_url):
    app = create_app(database_url=owner_url, env="testing",
                     cors_allowed_origins=f"{ALLOWED}, http://localhost:3000")
    yield app.test_client()
    app.extensions["vitalbridge"].db.dispose()


def _preflight(client, origin):
    return client.options("/api/v1/patients", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Authorization, Content-Type, Idempotency-Key"})


def test_by_default_no_origin_may_read_an_answer(client, tenant):
    answer = client.get("/api/v1/api-keys", headers=bearer(tenant.admin_key) | {"Origin": ALLOWED})
    assert answer.status_code == 200
    assert "Access-Control-Allow-Origin" not in answer.headers
    assert "Access-Control-Allow-Origin" not in _preflight(client, ALLOWED).headers


def test_a_listed_origin_may_call_and_read_the_api_headers(cors_client, tenant):
    preflight = _preflight(cors_client, ALLOWED)
    assert preflight.headers["Access-Control-Allow-Origin"] == ALLOWED
    allowed = {h.strip().lower() for h in
               preflight.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "idempotency-key"} <= allowed
    assert "Access-Control-Allow-Credentials" not in preflight.headers
    answer = cors_client.get("/api/v1/api-keys",
                             headers=bearer(tenant.admin_key) | {"Origin": ALLOWED})
    assert answer.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "Origin" in answer.headers["Vary"]
    exposed = answer.headers["Access-Control-Expose-Headers"].lower()
    assert "etag" in exposed
    assert "consistency-token" in exposed


def test_an_origin_not_listed_gets_no_cors_headers(cors_client, tenant):
    assert "Access-Control-Allow-Origin" not in _preflight(cors_client, OTHER).headers
    answer = cors_client.get("/api/v1/api-keys",
                             headers=bearer(tenant.admin_key) | {"Origin": OTHER})
    assert "Access-Control-Allow-Origin" not in answer.headers


@pytest.mark.parametrize("origins", ["*", "desk.example", "https://desk.example/app",
                                     "https://a.example,ftp://b.example"])
def test_an_allowlist_entry_that_is_not_an_origin_is_refused(origins):
    with pytest.raises(SettingsError, match="CORS_ALLOWED_ORIGINS"):
        load_settings({"DATABASE_URL": "postgresql://h/d", "CORS_ALLOWED_ORIGINS": origins})
