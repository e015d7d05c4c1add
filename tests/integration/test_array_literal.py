"""Arrays bound as one text literal (vitalbridge/db.py): PostgreSQL reads back exactly the
values given, whatever characters they hold, and ``among`` matches by them."""

import uuid
from datetime import UTC, date, datetime

from sqlalchemy import column, select, text, values
from sqlalchemy.types import Text, Uuid

from vitalbridge.db import among, array_literal

AWKWARD = ["plain", "a,b", 'say "hi"', "back\\slash", "NULL", "{braced}", " spaced ",
           "", "ünïcödé", "new\nline"]


def test_text_with_any_character_comes_back_as_given(owner_engine):
    with owner_engine.connect() as conn:
        back = conn.execute(text("SELECT CAST(:values AS text[])"),
                            {"values": array_literal(AWKWARD)}).scalar_one()
    assert back == AWKWARD


def test_uuids_dates_and_instants_come_back_as_given(owner_engine):
    ids = [uuid.uuid4() for _ in range(3)]
    instant = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    with owner_engine.connect() as conn:
        row = conn.execute(text(
            "SELECT CAST(:ids AS uuid[]), CAST(:days AS date[]), CAST(:instants AS timestamptz[])"),
            {"ids": array_literal(ids), "days": array_literal([date(2026, 2, 28)]),
             "instants": array_literal([instant])}).one()
    assert list(row) == [ids, [date(2026, 2, 28)], [instant]]


def test_an_empty_array_is_empty(owner_engine):
    with owner_engine.connect() as conn:
        assert conn.execute(text("SELECT CAST(:values AS uuid[])"),
                            {"values": array_literal([])}).scalar_one() == []


def test_among_matches_exactly_the_values_given(owner_engine):
    ids = [uuid.uuid4() for _ in range(4)]
    rows = values(column("id", Uuid), column("name", Text), name="rows").data(
        [(ids[0], "a,b"), (ids[1], 'say "hi"'), (ids[2], "back\\slash"), (ids[3], "plain")])
    with owner_engine.connect() as conn:
        by_name = conn.execute(select(rows.c.id).where(
            among(rows.c.name, ["a,b", "back\\slash", "a"]))).scalars().all()
        by_id = conn.execute(select(rows.c.name).where(
            among(rows.c.id, [ids[3], uuid.uuid4()]))).scalars().all()
    assert sorted(by_name) == sorted([ids[0], ids[2]])
    assert by_id == ["plain"]
