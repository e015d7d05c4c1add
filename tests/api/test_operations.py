"""Health probes, metrics, request ids, the OpenAPI spec and the offline docs page (acc. 6)."""

import re

from openapi_spec_validator import validate

from tests.conftest import bearer


def test_liveness(client):
    assert client.get("/health/live").json == {"status": "ok"}


def test_readiness_checks_database_migrations_and_role(client):
    response = client.get("/health/ready")
    assert response.status_code == 200
    checks = response.json["checks"]
    assert checks["database"]["ok"]
    assert checks["database_migrations"]["ok"]
    assert checks["database_migrations"]["current"] == checks["database_migrations"]["head"]
    assert checks["database_role"]["ok"]
    assert "replica" not in checks


def test_readiness_fails_when_the_schema_is_behind(client, owner_engine):
    from sqlalchemy import text

    with owner_engine.begin() as conn:
        current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        conn.execute(text("UPDATE alembic_version SET version_num = 'older'"))
    try:
        response = client.get("/health/ready")
        assert response.status_code == 503
        assert not response.json["checks"]["database_migrations"]["ok"]
    finally:
        with owner_engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": current})


def test_readiness_refuses_a_replica_reached_as_a_superuser(owner_url):
    from vitalbridge import create_app

    app = create_app(database_url=owner_url, env="testing", database_replica_url=owner_url)
    try:
        response = app.test_client().get("/health/ready")
    finally:
        app.extensions["vitalbridge"].db.dispose()
    assert response.status_code == 503
    assert response.json["checks"]["replica"]["ok"]
    assert not response.json["checks"]["replica_role"]["ok"]


def test_request_id_is_taken_from_nginx_or_made(client):
    assert client.get("/health/live", headers={"X-Request-ID": "abc-123"}).headers[
        "X-Request-ID"] == "abc-123"
    made = client.get("/health/live", headers={"X-Request-ID": "bad id with spaces"})
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["X-Request-ID"])


def test_problem_bodies_carry_the_request_id(client):
    response = client.get("/api/v1/api-keys", headers={"X-Request-ID": "trace-9"})
    assert response.json["request_id"] == "trace-9"


def test_metrics_are_prometheus_text(client, tenant):
    client.get("/api/v1/api-keys", headers=bearer(tenant.admin_key))
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert "flask_http_request_total" in response.get_data(as_text=True)


def test_openapi_document_is_valid_3_1(client):
    spec = client.get("/openapi.json").json
    assert spec["openapi"].startswith("3.1")
    validate(spec)
    assert "/api/v1/tenants" in spec["paths"]
    assert "/api/v1/api-keys/{key_id}/revoke" in spec["paths"]


def test_docs_page_loads_only_local_assets(client):
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "http://" not in html
    assert "https://" not in html
    assert "validatorUrl: null" in html  # Swagger UI would otherwise call an online validator
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert len(assets) == 3
    for asset in assets:
        assert client.get(asset).status_code == 200, asset


# Security headers (hardening, item 7) -----------------------------------------------


def test_every_answer_says_nosniff_and_authenticated_ones_are_not_stored(client, tenant):
    authenticated = client.get("/api/v1/providers", headers=bearer(tenant.admin_key))
    refused = client.get("/api/v1/providers", headers={"Authorization": "Bearer nonsense"})
    anonymous = client.get("/health/live")
    assert authenticated.status_code == 200
    assert refused.status_code == 401
    for response in (authenticated, refused, anonymous):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert authenticated.headers["Cache-Control"] == "no-store"
    assert refused.headers["Cache-Control"] == "no-store"
    assert "no-store" not in anonymous.headers.get("Cache-Control", "")
