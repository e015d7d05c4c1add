"""Abuse limits: commands per API key, failed authentications per client address; 429
problem+json with Retry-After, shared through Redis when REDIS_URL is set."""

import random
import socket
import uuid

import pytest

from config.settings import SettingsError, load_settings
from tests.conftest import bearer
from tests.factories import ApiKeyFactory, TenantFactory
from vitalbridge import create_app
from vitalbridge.messaging.messages import Role
from vitalbridge.tenant.messages import format_api_key

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def make_app(owner_url):
    made = []

    def make(**settings):
        app = create_app(database_url=owner_url, env="testing", **settings)
        made.append(app)
        return app

    yield make
    for app in made:
        app.extensions["vitalbridge"].db.dispose()


def _add_provider(client, key, address="127.0.0.1"):
    return client.post("/api/v1/providers", headers=bearer(key), environ_base={
        "REMOTE_ADDR": address}, json={"given_name": "Ann", "family_name": f"Lee {uuid.uuid4()}",
                                       "specialty": "Cardiology"})


def _assert_rate_limited(response):
    assert response.status_code == 429, response.get_data(as_text=True)
    assert response.content_type == "application/problem+json"
    assert response.json["type"].endswith("rate-limited")
    assert int(response.headers["Retry-After"]) >= 1


def test_commands_past_the_keys_limit_are_429_and_other_keys_and_reads_go_on(make_app):
    app = make_app(rate_limit_commands="3/minute")
    with app.app_context():
        tenant = TenantFactory()
        other = ApiKeyFactory(tenant_id=tenant.id, role=Role.ADMIN)
    client = app.test_client()
    assert [_add_provider(client, tenant.admin_key).status_code for _ in range(3)] == [201] * 3
    refused = _add_provider(client, tenant.admin_key)
    _assert_rate_limited(refused)
    assert "API key" in refused.json["detail"]
    assert _add_provider(client, other.key).status_code == 201
    assert client.get("/api/v1/providers", headers=bearer(tenant.admin_key)).status_code == 200


def test_a_wrong_secret_does_not_spend_the_keys_budget(make_app):
    app = make_app(rate_limit_commands="3/minute", rate_limit_failed_auth="100/minute")
    with app.app_context():
        tenant = TenantFactory()
    client = app.test_client()
    forged = tenant.admin_key[:-4] + ("0000" if not tenant.admin_key.endswith("0000") else "1111")
    assert {_add_provider(client, forged).status_code for _ in range(5)} == {401}
    assert [_add_provider(client, tenant.admin_key).status_code for _ in range(3)] == [201] * 3


def _locked_out(make_app, failures):
    """A client whose address used up its failed authentications with a guessed key;
    the tenant whose key it guessed; the guess."""
    app = make_app(rate_limit_failed_auth=f"{failures}/minute")
    with app.app_context():
        tenant = TenantFactory()
    client = app.test_client()
    guess = format_api_key(tenant.id, uuid.uuid4(), "0" * 48)
    for _ in range(failures):
        assert client.get("/api/v1/api-keys", headers=bearer(guess)).status_code == 401
    _assert_rate_limited(client.get("/api/v1/api-keys", headers=bearer(guess)))
    return client, tenant, guess


def test_an_address_with_too_many_failed_keys_is_429_for_every_key(make_app):
    client, tenant, _guess = _locked_out(make_app, 3)
    blocked = client.get("/api/v1/api-keys", headers=bearer(tenant.admin_key))
    _assert_rate_limited(blocked)
    assert "address" in blocked.json["detail"]
    elsewhere = client.get("/api/v1/api-keys", headers=bearer(tenant.admin_key),
                           environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert elsewhere.status_code == 200


def test_a_locked_out_address_still_reaches_health_checks_metrics_and_docs(make_app):
    client, _tenant, guess = _locked_out(make_app, 2)
    for path in ("/health/live", "/health/ready", "/metrics", "/openapi.json"):
        assert client.get(path, headers=bearer(guess)).status_code == 200, path


def test_behind_nginx_the_forwarded_address_is_the_client(make_app):
    app = make_app(rate_limit_failed_auth="2/minute", trusted_proxy_hops=1)
    client = app.test_client()

    def anonymous(address):
        return client.get("/api/v1/api-keys", headers={"X-Forwarded-For": address})

    assert [anonymous("203.0.113.7").status_code for _ in range(2)] == [401, 401]
    _assert_rate_limited(anonymous("203.0.113.7"))
    assert anonymous("203.0.113.8").status_code == 401  # another client, same nginx


def _redis_reachable():
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _redis_reachable(), reason="no Redis server at 127.0.0.1:6379")
def test_with_redis_every_worker_shares_the_counts(make_app):
    # Two apps stand for two gunicorn workers (or hosts): one budget between them.
    first = make_app(rate_limit_commands="3/minute", rate_limit_failed_auth="2/minute",
                     redis_url=REDIS_URL)
    second = make_app(rate_limit_commands="3/minute", rate_limit_failed_auth="2/minute",
                      redis_url=REDIS_URL)
    with first.app_context():
        tenant = TenantFactory()
    one, two = first.test_client(), second.test_client()
    assert _add_provider(one, tenant.admin_key).status_code == 201
    assert _add_provider(two, tenant.admin_key).status_code == 201
    assert _add_provider(one, tenant.admin_key).status_code == 201
    _assert_rate_limited(_add_provider(two, tenant.admin_key))
    address = f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"
    for client in (one, two):
        assert client.get("/api/v1/api-keys", environ_base={
            "REMOTE_ADDR": address}).status_code == 401
    _assert_rate_limited(one.get("/api/v1/api-keys", environ_base={"REMOTE_ADDR": address}))


@pytest.mark.parametrize("value", ["lots", "10 per fortnight", ""])
def test_a_rate_that_cannot_be_read_is_refused(value):
    environ = {"DATABASE_URL": "postgresql://h/d", "RATE_LIMIT_COMMANDS": value or " "}
    with pytest.raises(SettingsError, match="RATE_LIMIT_COMMANDS"):
        load_settings(environ)
