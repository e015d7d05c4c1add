"""Listing and searching providers; the public queries other domains ask."""

import uuid

import pytest

from tests.conftest import bearer, forged_cursor
from tests.factories import ApiKeyFactory
from tests.provider_factories import ProviderFactory
from vitalbridge.messaging.messages import Principal, Role
from vitalbridge.provider.messages import FindProviders, GetProvider

PEOPLE = [
    ("José", "García", "Cardiology"),
    ("Ana", "Silva", "cardiology"),
    ("Zoë", "Ölund", "Dermatology"),
    ("Mark", "Adams", "Cardiology"),
    ("María José", "Núñez", "Pediatrics"),
]


@pytest.fixture
def providers(app, tenant, other_tenant):
    with app.app_context():
        made = {f"{g} {f}": ProviderFactory(tenant_id=tenant.id, given_name=g,
                                            family_name=f, specialty=s)
                for g, f, s in PEOPLE}
        # A namesake in another tenant: it must never show up.
        ProviderFactory(tenant_id=other_tenant.id, given_name="José", family_name="García")
    return made


def names(client, key, query=""):
    response = client.get(f"/api/v1/providers{query}", headers=bearer(key))
    assert response.status_code == 200, response.json
    return [f"{p['given_name']} {p['family_name']}" for p in response.json["items"]]


def test_list_is_in_family_name_order(client, tenant, providers):
    listed = names(client, tenant.admin_key)
    # Where "Ölund" sorts depends on the database's collation; the ASCII-led names do not.
    assert sorted(listed) == sorted(providers)
    assert [n for n in listed if n != "Zoë Ölund"] == [
        "Mark Adams", "José García", "María José Núñez", "Ana Silva"]


@pytest.mark.parametrize(("q", "expected"), [
    ("jose", ["José García", "María José Núñez"]),
    ("JOSÉ", ["José García", "María José Núñez"]),
    ("garcia", ["José García"]),
    ("arc", ["José García"]),
    ("olund", ["Zoë Ölund"]),
    ("zoe", ["Zoë Ölund"]),
    ("nunez maria", ["María José Núñez"]),
    ("jose garcia", ["José García"]),
    ("nobody", []),
    ("%", []),
    ("_", []),
])
def test_q_is_case_and_accent_insensitive(client, tenant, providers, q, expected):
    assert names(client, tenant.admin_key, f"?q={q}") == expected


def test_specialty_is_exact_but_case_insensitive(client, tenant, providers):
    assert names(client, tenant.admin_key, "?specialty=CARDIOLOGY") == [
        "Mark Adams", "José García", "Ana Silva"]
    assert names(client, tenant.admin_key, "?specialty=cardio") == []


def test_active_filter(client, tenant, providers):
    silva = providers["Ana Silva"].id
    client.post(f"/api/v1/providers/{silva}/deactivate", headers=bearer(tenant.admin_key))
    assert "Ana Silva" not in names(client, tenant.admin_key, "?active=true")
    assert names(client, tenant.admin_key, "?active=false") == ["Ana Silva"]
    assert len(names(client, tenant.admin_key)) == 5


def test_filters_combine(client, tenant, providers):
    query = "?specialty=cardiology&q=a&active=true&limit=1"
    seen, cursor = [], None
    while True:
        page = client.get("/api/v1/providers" + query + (f"&cursor={cursor}" if cursor else ""),
                          headers=bearer(tenant.admin_key)).json
        seen += [p["family_name"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["Adams", "García", "Silva"]


def test_pagination_walks_every_row_once(client, app, tenant, providers):
    with app.app_context():
        for _ in range(7):  # same names: the id breaks the ties
            ProviderFactory(tenant_id=tenant.id, given_name="Sam", family_name="Lee")
    seen, cursor = [], None
    while True:
        url = "/api/v1/providers?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=bearer(tenant.admin_key)).json
        assert len(page["items"]) <= 3
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 12
    everything = client.get("/api/v1/providers?limit=200", headers=bearer(tenant.admin_key))
    assert [p["id"] for p in everything.json["items"]] == seen


@pytest.mark.parametrize("query", [
    # An empty value is an absent filter (test_input_hardening); a blank one is refused.
    "?limit=0", "?limit=201", "?cursor=garbage", "?active=maybe", "?q=%20", "?specialty=%20%20",
    f"?q={'x' * 101}",
])
def test_bad_list_arguments_are_422(client, tenant, query):
    response = client.get(f"/api/v1/providers{query}", headers=bearer(tenant.admin_key))
    assert response.status_code == 422
    assert set(response.json["errors"]) <= {"limit", "cursor", "active", "q", "specialty"}
    assert response.json["errors"]


def test_a_cursor_of_another_shape_is_422(app, client, tenant, providers):
    for values in (["García", "José"], [1, 2, str(uuid.uuid4())], ["a", "b", "not-a-uuid"]):
        response = client.get(f"/api/v1/providers?cursor={forged_cursor(app, values)}",
                              headers=bearer(tenant.admin_key))
        assert response.status_code == 422
        assert "cursor" in response.json["errors"]


@pytest.mark.parametrize("role", [Role.STAFF, Role.READONLY])
def test_staff_and_readonly_read(client, app, tenant, providers, role):
    with app.app_context():
        key = ApiKeyFactory(tenant_id=tenant.id, role=role).key
    assert len(names(client, key)) == 5
    one = client.get(f"/api/v1/providers/{providers['Ana Silva'].id}", headers=bearer(key))
    assert one.status_code == 200


def test_another_tenant_lists_only_its_own(client, other_tenant, providers):
    assert names(client, other_tenant.admin_key) == ["José García"]
    assert names(client, other_tenant.admin_key, "?q=silva") == []


def test_unknown_provider_is_404(client, tenant):
    response = client.get(f"/api/v1/providers/{uuid.uuid4()}", headers=bearer(tenant.admin_key))
    assert response.status_code == 404
    assert response.json["type"].endswith("not-found")


# The public queries other domains ask through the query bus --------------------------


def ask(app, query, tenant_id):
    with app.app_context():
        return app.extensions["vitalbridge"].queries.ask(query, Principal.system(tenant_id))


def test_get_provider_answers_a_view_or_none(app, tenant, other_tenant, providers):
    ana = providers["Ana Silva"]
    view = ask(app, GetProvider(provider_id=ana.id), tenant.id)
    assert (view.id, view.timezone, view.active, view.display_name) == (
        ana.id, "America/New_York", True, "Ana Silva")
    assert ask(app, GetProvider(provider_id=ana.id), other_tenant.id) is None


def test_find_providers_filters(client, app, tenant, other_tenant, providers):
    silva, adams = providers["Ana Silva"].id, providers["Mark Adams"].id
    client.post(f"/api/v1/providers/{silva}/deactivate", headers=bearer(tenant.admin_key))
    found = ask(app, FindProviders(specialty="Cardiology"), tenant.id)
    assert [p.family_name for p in found] == ["Adams", "García", "Silva"]
    active = ask(app, FindProviders(specialty="cardiology", active_only=True), tenant.id)
    assert [p.family_name for p in active] == ["Adams", "García"]
    by_ids = ask(app, FindProviders(ids=(silva, adams, uuid.uuid4())), tenant.id)
    assert {p.id for p in by_ids} == {silva, adams}
    assert ask(app, FindProviders(ids=(silva,)), other_tenant.id) == []
    assert ask(app, FindProviders(ids=()), tenant.id) == []
