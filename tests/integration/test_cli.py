"""The flask CLI: tenants, keys, demo seed, outbox status."""

import json

from tests.conftest import bearer
from vitalbridge import create_app
from vitalbridge.demo import PATIENTS as DEMO_PATIENTS
from vitalbridge.demo import PROVIDERS as DEMO_PROVIDERS


def run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def last_json_line(output):
    return json.loads(output.strip().splitlines()[-1])


def test_tenants_create_prints_id_and_a_working_admin_key(app, client):
    result = run(app, "tenants", "create", "--name", "Hill Clinic", "--slug", "hill",
                 "--timezone", "Europe/Berlin", "--json")
    assert result.exit_code == 0, result.output
    created = last_json_line(result.output)
    assert set(created) == {"tenant_id", "api_key"}
    keys = client.get("/api/v1/api-keys", headers=bearer(created["api_key"]))
    assert keys.status_code == 200
    assert keys.json["items"][0]["role"] == "admin"


def test_tenants_create_without_json_is_human_readable(app):
    result = run(app, "tenants", "create", "--name", "Dale", "--slug", "dale",
                 "--timezone", "UTC")
    assert result.exit_code == 0
    assert "Created tenant dale" in result.output
    assert "Admin API key" in result.output


def test_tenants_create_refuses_bad_input_clearly(app):
    result = run(app, "tenants", "create", "--name", "X", "--slug", "Bad Slug",
                 "--timezone", "Nowhere/Town")
    assert result.exit_code == 2
    assert "slug" in result.output
    assert "timezone" in result.output


def test_tenants_create_refuses_a_taken_slug(app):
    run(app, "tenants", "create", "--name", "A", "--slug", "same", "--timezone", "UTC")
    result = run(app, "tenants", "create", "--name", "B", "--slug", "same", "--timezone", "UTC")
    assert result.exit_code == 1
    assert "already in use" in result.output


def test_keys_create_platform_prints_a_working_platform_key(app, client):
    result = run(app, "keys", "create", "--platform", "--json")
    assert result.exit_code == 0
    key = last_json_line(result.output)["api_key"]
    assert client.get("/api/v1/tenants", headers=bearer(key)).status_code == 200


def test_demo_seed_is_idempotent_and_keeps_a_working_key(owner_url, client, tmp_path):
    app = create_app(database_url=owner_url, env="testing", var_dir=str(tmp_path))
    first = run(app, "demo", "seed")
    assert first.exit_code == 0, first.output
    key = (tmp_path / "demo-admin-key").read_text().strip()
    second = run(app, "demo", "seed")
    assert second.exit_code == 0
    assert (tmp_path / "demo-admin-key").read_text().strip() == key
    assert client.get("/api/v1/api-keys", headers=bearer(key)).status_code == 200
    (tmp_path / "demo-admin-key").unlink()
    assert run(app, "demo", "seed").exit_code == 0
    app.extensions["vitalbridge"].db.dispose()
    new_key = (tmp_path / "demo-admin-key").read_text().strip()
    assert new_key != key
    assert client.get("/api/v1/api-keys", headers=bearer(new_key)).status_code == 200
    providers = client.get("/api/v1/providers", headers=bearer(new_key)).json["items"]
    patients = client.get("/api/v1/patients", headers=bearer(new_key)).json["items"]
    assert len(providers) == len(DEMO_PROVIDERS)  # three seeds, no duplicates
    assert len(patients) == len(DEMO_PATIENTS)
    for provider in providers:
        hours = client.get(f"/api/v1/providers/{provider['id']}/working-hours",
                           headers=bearer(new_key))
        assert hours.status_code == 200
        assert hours.json["version"] == 1  # set once, not again on later seeds
        assert len(hours.json["rules"]) == 10
    booked = client.get("/api/v1/appointments", headers=bearer(new_key)).json["items"]
    assert len(booked) == len(DEMO_PROVIDERS)  # one each, booked once over three seeds
    assert {a["status"] for a in booked} == {"booked"}


def test_outbox_status_reports_the_backlog(app):
    run(app, "tenants", "create", "--name", "A", "--slug", "a", "--timezone", "UTC")
    result = run(app, "outbox", "status")
    assert result.exit_code == 0
    assert "backlog: 2" in result.output  # tenant.created and api_key.created


def test_keys_create_for_a_tenant(app, client, tenant):
    result = run(app, "keys", "create", "--tenant", tenant.slug, "--role", "staff", "--json")
    assert result.exit_code == 0, result.output
    created = last_json_line(result.output)
    assert created["tenant_id"] == str(tenant.id)
    assert client.get("/api/v1/api-keys", headers=bearer(created["api_key"])).status_code == 403
    admin = last_json_line(run(app, "keys", "create", "--tenant", tenant.slug, "--json").output)
    assert client.get("/api/v1/api-keys", headers=bearer(admin["api_key"])).status_code == 200


def test_keys_create_needs_exactly_one_target(app):
    assert run(app, "keys", "create").exit_code == 2
    assert run(app, "keys", "create", "--platform", "--tenant", "x").exit_code == 2
    missing = run(app, "keys", "create", "--tenant", "no-such-clinic")
    assert missing.exit_code == 1
    assert "No tenant" in missing.output


def test_demo_seed_refuses_production(owner_url, tmp_path):
    app = create_app(database_url=owner_url, env="production", api_key_pepper="p" * 40,
                     var_dir=str(tmp_path))
    try:
        result = run(app, "demo", "seed")
    finally:
        app.extensions["vitalbridge"].db.dispose()
    assert result.exit_code == 1
    assert "never runs with VITALBRIDGE_ENV=production" in result.output
    assert not (tmp_path / "demo-admin-key").exists()


def test_models_and_migrations_agree(app):
    """`flask db check`: the migrations build exactly what the models describe."""
    with app.app_context():  # Flask-Alembic's check reads current_app outside its group
        result = run(app, "db", "check")
    assert result.exit_code == 0, result.output
