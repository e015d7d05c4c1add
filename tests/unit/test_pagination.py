"""Opaque keyset cursors (no I/O)."""

import uuid
from datetime import UTC

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vitalbridge.http.pagination import (
    decode_cursor,
    encode_cursor,
    page_response,
    timestamp_id_cursor,
)
from vitalbridge.messaging.errors import InvalidCommand


@given(st.datetimes(timezones=st.just(UTC)), st.uuids())
def test_timestamp_id_cursors_round_trip(stamp, ident):
    assert timestamp_id_cursor(encode_cursor([stamp, ident])) == (stamp, ident)


@pytest.mark.parametrize("cursor", ["", "!!!", "bm90IGpzb24", encode_cursor(["x"]),
                                    encode_cursor(["not-a-time", str(uuid.uuid4())])])
def test_foreign_cursors_are_422(cursor):
    with pytest.raises(InvalidCommand) as refused:
        timestamp_id_cursor(cursor)
    assert "cursor" in refused.value.errors


def test_no_cursor_means_first_page():
    assert decode_cursor(None) is None


def test_page_response_says_whether_more_follow():
    rows = [(n,) for n in range(4)]
    page = page_response(rows, 3, lambda row: row)
    assert page["items"] == rows[:3]
    assert decode_cursor(page["next_cursor"]) == [2]
    assert page_response(rows[:3], 3, lambda row: row)["next_cursor"] is None
