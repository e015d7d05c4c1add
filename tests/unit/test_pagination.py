"""Opaque keyset cursors (no I/O)."""

import base64
import json
import uuid
from datetime import UTC

import pytest
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st

from config.settings import load_settings
from vitalbridge.http.pagination import (
    decode_cursor,
    encode_cursor,
    page_response,
    seal_cursor,
    timestamp_id_cursor,
)
from vitalbridge.messaging.errors import InvalidCommand


def _app(pepper: str) -> Flask:
    app = Flask(__name__)
    app.config["SETTINGS"] = load_settings(
        {"DATABASE_URL": "postgresql://nowhere/none", "API_KEY_PEPPER": pepper})
    return app


@pytest.fixture(autouse=True)
def _context():
    with _app("a pepper for the tests").app_context():
        yield


@given(st.datetimes(timezones=st.just(UTC)), st.uuids())
def test_timestamp_id_cursors_round_trip(stamp, ident):
    with _app("a pepper for the tests").app_context():
        assert timestamp_id_cursor(encode_cursor([stamp, ident])) == (stamp, ident)


def _plain(sort_key: object) -> str:
    """A cursor as this API once wrote them: readable base64 JSON, unsealed."""
    return base64.urlsafe_b64encode(json.dumps(sort_key).encode()).decode().rstrip("=")


@pytest.mark.parametrize("cursor", [
    "", "!!!", "bm90IGpzb24", "é",
    _plain(["2027-03-14T09:30:00+00:00", str(uuid.uuid4())]),  # well-formed, not sealed
])
def test_cursors_this_api_did_not_seal_are_422(cursor):
    with pytest.raises(InvalidCommand) as refused:
        timestamp_id_cursor(cursor)
    assert "cursor" in refused.value.errors


@pytest.mark.parametrize("sort_key", [["x"], ["not-a-time", str(uuid.uuid4())]])
def test_sealed_cursors_of_another_shape_are_422(sort_key):
    with pytest.raises(InvalidCommand):
        timestamp_id_cursor(seal_cursor(json.dumps(sort_key).encode()))


def test_a_cursor_does_not_show_the_sort_key():
    cursor = encode_cursor(["lee ann", str(uuid.uuid4())])
    readable = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    assert b"lee" not in readable
    assert decode_cursor(cursor)[0] == "lee ann"


def test_a_tampered_cursor_is_422():
    cursor = encode_cursor(["lee ann", str(uuid.uuid4())])
    flipped = cursor[:40] + ("A" if cursor[40] != "A" else "B") + cursor[41:]
    with pytest.raises(InvalidCommand):
        decode_cursor(flipped)


def test_a_cursor_sealed_under_another_pepper_is_422():
    with _app("another deployment's pepper").app_context():
        foreign = encode_cursor(["lee ann", str(uuid.uuid4())])
    with pytest.raises(InvalidCommand):
        decode_cursor(foreign)


def test_no_cursor_means_first_page():
    assert decode_cursor(None) is None


def test_page_response_says_whether_more_follow():
    rows = [(n,) for n in range(4)]
    page = page_response(rows, 3, lambda row: row)
    assert page["items"] == rows[:3]
    assert decode_cursor(page["next_cursor"]) == [2]
    assert page_response(rows[:3], 3, lambda row: row)["next_cursor"] is None
