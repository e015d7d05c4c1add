"""Patient name search through HTTP: accents, case, typos, order, paging, isolation, index."""

import uuid
from datetime import date

import pytest
from psycopg import sql
from sqlalchemy import create_engine, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from tests.conftest import bearer
from tests.patient_factories import PatientFactory
from vitalbridge.messaging.bus import ReadContext
from vitalbridge.messaging.messages import Principal
from vitalbridge.patient import search as patient_search
from vitalbridge.patient.messages import SearchPatients
from vitalbridge.patient.model import NAMES_TRIGRAM_INDEX
from vitalbridge.patient.queries import search_patients
from vitalbridge.patient.search import search_statement, use_search_settings

ROSTER = [
    ("José", "García"), ("María", "García-López"), ("John", "Smith"), ("Jane", "Smith"),
    ("Jon", "Smyth"), ("Johan", "Schmidt"), ("Anna", "van der Berg"),
    ("Pieter", "van den Bosch"), ("Zoë", "Müller"), ("François", "Lefèvre"),
    ("Łukasz", "Wiśniewski"), ("Søren", "Kierkegaard"), ("Mohammed", "Al-Hassan"),
    ("Siobhán", "O'Connor"), ("Nguyễn", "Thị Lan"), ("Michael", "Johnson"),
    ("Michelle", "Johnston"), ("Catherine", "Dubois"), ("Li", "Wei"), ("Ana", "Souza"),
    ("Anne", "Sousa"), ("Gianluca", "Rossi"),
]

# (typed, the patient it must find among the first three results)
FINDS = [
    ("jose garcia", "José García"),
    ("JOSÉ GARCÍA", "José García"),
    ("garcia jose", "José García"),
    ("José", "José García"),
    ("Jonh Smiht", "John Smith"),
    ("Jhon Smith", "John Smith"),
    ("Jahn Smith", "John Smith"),
    ("smiht", "Jane Smith"),
    ("garc", "José García"),
    ("mar garc", "María García-López"),
    ("maria garcia-lopez", "María García-López"),
    ("garcia lopez", "María García-López"),
    ("lopez", "María García-López"),
    ("María Garcia Lopes", "María García-López"),
    ("van der berg", "Anna van der Berg"),
    ("anna vanderberg", "Anna van der Berg"),
    ("berg", "Anna van der Berg"),
    ("pieter van den bosch", "Pieter van den Bosch"),
    ("zoe muller", "Zoë Müller"),
    ("Zoe Mueller", "Zoë Müller"),
    ("francois lefevre", "François Lefèvre"),
    ("lukasz wisniewski", "Łukasz Wiśniewski"),
    ("wisnieswki", "Łukasz Wiśniewski"),
    ("soren kierkegard", "Søren Kierkegaard"),
    ("al hassan", "Mohammed Al-Hassan"),
    ("mohamed alhassan", "Mohammed Al-Hassan"),
    ("o'connor", "Siobhán O'Connor"),
    ("oconnor siobhan", "Siobhán O'Connor"),
    ("nguyen lan", "Nguyễn Thị Lan"),
    ("katherine dubois", "Catherine Dubois"),
    ("Micheal Johnson", "Michael Johnson"),
    ("jonson", "Michael Johnson"),
    ("michelle johnston", "Michelle Johnston"),
    ("li wei", "Li Wei"),
    ("gianluca", "Gianluca Rossi"),
    ("rosi", "Gianluca Rossi"),
]

# (typed, the patient that must come first of all)
BEST_FIRST = [
    ("john smith", "John Smith"),
    ("jane smith", "Jane Smith"),
    ("jon smyth", "Jon Smyth"),
    ("ana souza", "Ana Souza"),
    ("anne sousa", "Anne Sousa"),
    ("michael johnson", "Michael Johnson"),
    ("jose garcia", "José García"),
    ("maria garcia lopez", "María García-López"),
]

# (typed, a patient it must not return)
MISSES = [
    ("jose smith", "José García"),
    ("smith", "José García"),
    ("berg", "Pieter van den Bosch"),
    ("Catherine Rossi", "Catherine Dubois"),
]


@pytest.fixture
def roster(app, tenant):
    with app.app_context():
        return {f"{given} {family}": PatientFactory(
            tenant_id=tenant.id, given_name=given, family_name=family,
            birth_date=date(1970 + n, 1 + n % 12, 1 + n)).id
            for n, (given, family) in enumerate(ROSTER)}


def search(client, key, query, **args):
    params = {"q": query, **args}
    response = client.get("/api/v1/patients", query_string=params, headers=bearer(key))
    assert response.status_code == 200, response.json
    return response.json


def names(page):
    return [f"{p['given_name']} {p['family_name']}" for p in page["items"]]


def test_typed_queries_find_their_patient_in_the_first_three(client, tenant, roster):
    misses = {}
    for typed, wanted in FINDS:
        found = names(search(client, tenant.admin_key, typed))
        if wanted not in found[:3]:
            misses[typed] = found[:3]
    assert misses == {}


@pytest.mark.parametrize(("typed", "wanted"), BEST_FIRST)
def test_the_best_match_comes_first(client, tenant, roster, typed, wanted):
    found = search(client, tenant.admin_key, typed)
    assert names(found)[0] == wanted
    scores = [p["score"] for p in found["items"]]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("typed", ["Zzyzx", "Qwxv", "smith zzyzx", "Xiomara Przybylski"])
def test_unrelated_queries_find_nothing(client, tenant, roster, typed):
    assert search(client, tenant.admin_key, typed)["items"] == []


@pytest.mark.parametrize(("typed", "unwanted"), MISSES)
def test_every_word_must_match_some_name_word(client, tenant, roster, typed, unwanted):
    assert unwanted not in names(search(client, tenant.admin_key, typed))


def test_search_pages_with_a_cursor_in_rank_order(client, tenant, roster):
    everything = search(client, tenant.admin_key, "smith", limit=200)["items"]
    assert len(everything) >= 3
    seen, cursor = [], None
    while True:
        args = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = search(client, tenant.admin_key, "smith", **args)
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [p["id"] for p in everything]


def test_q_combines_with_exact_filters(client, tenant, roster):
    jane = client.get(f"/api/v1/patients/{roster['Jane Smith']}",
                      headers=bearer(tenant.admin_key)).json
    found = search(client, tenant.admin_key, "smith", birth_date=jane["birth_date"])
    assert names(found) == ["Jane Smith"]


def test_plain_lists_carry_no_score(client, tenant, roster):
    page = client.get("/api/v1/patients?limit=1", headers=bearer(tenant.admin_key)).json
    assert page["items"][0]["score"] is None


def test_a_search_never_returns_another_tenants_patients(client, app, tenant, other_tenant,
                                                         roster):
    with app.app_context():
        foreign = PatientFactory(tenant_id=other_tenant.id, given_name="John",
                                 family_name="Smith")
    for typed in ("john smith", "smith", "jhon"):
        mine = search(client, tenant.admin_key, typed)["items"]
        assert str(foreign.id) not in {p["id"] for p in mine}
    theirs = search(client, other_tenant.admin_key, "smith")["items"]
    assert [p["id"] for p in theirs] == [str(foreign.id)]
    assert search(client, other_tenant.admin_key, "garcia")["items"] == []


def test_updated_names_are_found_by_their_new_spelling(client, tenant, roster):
    patient_id = roster["Li Wei"]
    client.patch(f"/api/v1/patients/{patient_id}", json={"family_name": "Wéi-Zhāng"},
                 headers=bearer(tenant.admin_key))
    assert names(search(client, tenant.admin_key, "li wei zhang"))[0] == "Li Wéi-Zhāng"


# The trigram index under row-level security ------------------------------------------

BULK = text("""
INSERT INTO patients (tenant_id, id, mrn, given_name, family_name, birth_date)
SELECT :tenant, gen_random_uuid(), 'BULK-' || g,
       initcap(translate(substr(md5(g::text), 1, 6), '0123456789', 'aeiourstln')),
       initcap(translate(substr(md5(g::text), 7, 9), '0123456789', 'aeiourstln')),
       date '1930-01-01' + (g % 30000)
  FROM generate_series(1, :n) AS g
""")


def test_search_uses_the_trigram_indexes_as_the_app_role(app, client, tenant, owner_engine):
    planted = client.post("/api/v1/patients", headers=bearer(tenant.admin_key), json={
        "given_name": "José", "family_name": "García-López", "birth_date": "1961-05-04"})
    with owner_engine.begin() as conn:
        conn.execute(BULK, {"tenant": tenant.id, "n": 20_000})
        conn.execute(text("ANALYZE patients"))
        conn.execute(text("ANALYZE patient_names"))
    names_plan = explain_as_app_role(app, tenant.id, SearchPatients(q="jose garcia", limit=50))
    assert f"Bitmap Index Scan on {NAMES_TRIGRAM_INDEX}" in names_plan, names_plan
    assert "Index Scan Backward using ix_patients_tenant_id_search_name_id" in names_plan
    # With a birth date the patients themselves are scored, through their own index.
    born = SearchPatients(q="jose garcia", birth_date=date(1961, 5, 4), limit=50)
    assert "seq scan" not in explain_as_app_role(app, tenant.id, born).lower()
    found = search(client, tenant.admin_key, "Jose Garsia")["items"]
    assert found[0]["id"] == planted.json["id"]


# Ranking names, then their patients, answers what scoring every patient answers -------

NAMESAKES = [("María", "García", 23), ("Mario", "García", 9), ("Marta", "Garcías", 7),
             ("María", "Garcia-Lopez", 5), ("Mariam", "Gharcia", 3), ("Ana", "Lee", 12),
             ("Anna", "Li", 6), ("Hana", "Lea", 4)]


@pytest.mark.parametrize("typed", ["maria garcia", "mraia garcia", "garcia", "ana lee",
                                   "hana lea", "m", "marta garcias"])
def test_names_first_pages_equal_every_patient_scored(app, tenant, owner_engine, typed):
    with owner_engine.begin() as conn:
        for given, family, count in NAMESAKES:
            conn.execute(text(
                "INSERT INTO patients (tenant_id, id, mrn, given_name, family_name, birth_date) "
                "SELECT :tenant, gen_random_uuid(), :mrn || g, :given, :family, date '1980-01-01' "
                "FROM generate_series(1, :n) g"),
                {"tenant": tenant.id, "mrn": f"{given}-{family}-", "given": given,
                 "family": family, "n": count})
    by_name = _pages(app, tenant.id, typed, patient_search._ranked_names)
    by_patient = _pages(app, tenant.id, typed, patient_search._ranked_patients)
    assert by_name == by_patient
    assert sum(len(page) for page in by_name) > 7  # several pages, namesakes across them


@pytest.mark.parametrize("paged", [False, True])
def test_a_search_scores_each_name_once_not_each_patient(app, tenant, owner_engine, paged):
    # Scored per patient row read (the planner inlining the names into the page), a common
    # name cost a similarity call per namesake: 180 ms for some searches of a million.
    with owner_engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO patients (tenant_id, id, mrn, given_name, family_name, birth_date) "
            "SELECT :tenant, gen_random_uuid(), 'NS-' || g, 'María', 'García', "
            "date '1980-01-01' FROM generate_series(1, 40) g"), {"tenant": tenant.id})
        conn.execute(text("SET LOCAL track_functions = 'all'"))  # superuser only
        conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant.id)})
        use_search_settings(conn)
        after = (2.0, uuid.UUID(int=2**128 - 1)) if paged else None
        query = SearchPatients(q="maria garcia", limit=50, after=after)
        before = _similarity_calls(conn)  # the backend's counts not yet flushed
        rows = conn.execute(*patient_search._ranked_names(
            query, patient_search.search_words(query.q))).all()
        calls = _similarity_calls(conn) - before
    assert len(rows) == 40
    assert calls == 1  # one name, however many patients bear it


def _similarity_calls(conn):
    return conn.execute(text(
        "SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions "
        "WHERE funcname = 'similarity'")).scalar_one()


def _pages(app, tenant_id, typed, statement):
    """Every page of 7 (ids and scores) that ``statement`` answers, following cursors."""
    engine = create_engine(app.config["SETTINGS"].app_url)
    pages, after = [], None
    try:
        while True:
            with engine.begin() as conn:
                conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"),
                             {"t": str(tenant_id)})
                use_search_settings(conn)
                query = SearchPatients(q=typed, limit=7, after=after)
                rows = conn.execute(*statement(query, patient_search.search_words(typed))).all()
            pages.append([(row.id, row.score) for row in rows[:7]])
            if len(rows) <= 7:
                return pages
            after = (rows[6].score, rows[6].id)
    finally:
        engine.dispose()


def test_names_written_by_any_statement_are_searchable(client, tenant, owner_engine):
    with owner_engine.begin() as conn:
        conn.execute(BULK, {"tenant": tenant.id, "n": 50})
        renamed = conn.execute(text(
            "UPDATE patients SET family_name = 'Kowalczyk' WHERE tenant_id = :t "
            "AND mrn = 'BULK-7' RETURNING id"), {"t": tenant.id}).scalar_one()
        bulk_name = conn.execute(text(
            "SELECT given_name || ' ' || family_name FROM patients WHERE mrn = 'BULK-9' "
            "AND tenant_id = :t"), {"t": tenant.id}).scalar_one()
    assert names(search(client, tenant.admin_key, bulk_name))[0] == bulk_name
    found = search(client, tenant.admin_key, "kowalczyk")["items"]
    assert [item["id"] for item in found] == [str(renamed)]


def explain_as_app_role(app, tenant_id, query):
    """The plan the app runs: its prepared statement's generic plan, as the app role."""
    engine = create_engine(app.config["SETTINGS"].app_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("SET TRANSACTION READ ONLY"))
            conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"),
                         {"t": str(tenant_id)})
            use_search_settings(conn)  # generic plans
            statement, parameters = search_statement(query)
            compiled = statement.compile(dialect=DOLLAR_PARAMETERS)
            values = {**compiled.params, **parameters}
            driver = conn.connection.driver_connection
            arguments = ", ".join(sql.Literal(values[name]).as_string(driver)
                                  for name in compiled.positiontup)
            driver.execute(f"PREPARE search AS {compiled}")  # no parameters: % as typed
            rows = driver.execute(f"EXPLAIN EXECUTE search({arguments})").fetchall()
            driver.execute("DEALLOCATE search")
            return "\n".join(row[0] for row in rows)
    finally:
        engine.dispose()


DOLLAR_PARAMETERS = postgresql.psycopg.dialect(paramstyle="numeric_dollar")


def test_searches_run_prepared_on_their_generic_plan(app, tenant, roster):
    # A custom plan of a search took longer to make than to run (use_search_settings).
    engine = create_engine(app.config["SETTINGS"].app_url)
    try:
        with Session(engine) as session, session.begin():
            session.execute(text("SELECT set_config('app.tenant_id', :t, true)"),
                            {"t": str(tenant.id)})
            ctx = ReadContext(session=session, principal=Principal.system(tenant.id))
            first = search_patients(SearchPatients(q="jose garcia"), ctx)
            again = search_patients(SearchPatients(q="Jsoe Garsia"), ctx)
            plans = session.execute(text(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                "WHERE statement LIKE '%WITH matched AS%'")).all()
    finally:
        engine.dispose()
    assert first[0].family_name == again[0].family_name == "García"
    assert plans == [(2, 0)]  # one statement for both names, planned once


def test_a_search_statement_is_built_once_per_shape_with_the_words_bound():
    # Building one took about a tenth of a search: names typed alike share one.
    first, first_values = search_statement(SearchPatients(q="maria garcia", limit=50))
    again, again_values = search_statement(SearchPatients(q="Mario Garcis", limit=50))
    assert first is again
    assert first_values["word0_spelling0"] == "maria"
    assert again_values["word0_spelling0"] == "Mario"  # lowered and unaccented in SQL
    assert again_values["word1_spelling0"] == "Garcis"
    assert again_values["whole_query"] == "Mario Garcis"
    assert "mari" not in str(first.compile()).lower()
    paged, _ = search_statement(SearchPatients(q="maria garcia", limit=50,
                                               after=(0.5, uuid.uuid4())))
    shorter, _ = search_statement(SearchPatients(q="ana garcia", limit=50))
    assert paged is not first
    assert shorter is not first
    born, born_values = search_statement(SearchPatients(birth_date=date(1961, 5, 4)))
    assert search_statement(SearchPatients(birth_date=date(1990, 1, 2)))[0] is born
    assert born_values == {"rows": 51, "birth_date": date(1961, 5, 4)}
