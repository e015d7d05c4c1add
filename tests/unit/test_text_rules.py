"""The documented pattern of every kind of text field says exactly what the field takes.

For each kind, any text (with the characters that matter made likely) is accepted by the
field if and only if it matches the pattern the OpenAPI document shows for it.
"""

import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError, validate

from vitalbridge.http import text_rules
from vitalbridge.http.validators import InputSchema, Text, Trimmed, not_blank
from vitalbridge.patient.schemas import SEARCHABLE, _name

TRICKY = ["\x00", "\t", "\n", "\r", "\x0b", "\x1c", "\x1f", "\x7f", "\x85", "\x9f", "\xa0",
          "\u00ad", "\u200b", "\u200e", "\u2028", "\u2029", "\u3000", "\ufeff", "\ue000",
          "\U000e0041", " ", "a", "Z", "é", "7", "²", "_", "-", "語"]
TEXT = st.lists(st.one_of(st.sampled_from(TRICKY), st.characters(exclude_categories=["Cs"])),
                max_size=12).map("".join)

FIELDS = {
    "line": Text(),
    "line, not blank": Text(validate=not_blank),
    "lines, not blank": Text(multiline=True, validate=[not_blank]),
    "trimmed, not blank": Trimmed(validate=[not_blank, validate.Length(max=100)]),
    "trimmed, at least one": Trimmed(validate=validate.Length(min=1, max=100)),
    "name": _name(),
    "search words": Text(must_hold=SEARCHABLE),
}


def _accepts(field, raw):
    schema = InputSchema.from_dict({"value": field})()
    try:
        schema.load({"value": raw})
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("kind", FIELDS)
@settings(max_examples=400, deadline=None)
@given(raw=TEXT)
def test_a_field_takes_exactly_what_its_pattern_matches(kind, raw):
    field = FIELDS[kind]
    pattern = field.metadata["pattern"]
    assert _accepts(field, raw) == bool(re.search(pattern, raw)), (kind, raw, pattern)


def test_the_format_characters_are_unicodes_category_cf():
    listed = re.compile("[" + text_rules._TIDY_FORBIDDEN + "]")
    cf = [chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Cf"]
    assert all(listed.fullmatch(ch) for ch in cf)
    controls = [chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Cc"
                and not chr(c).isspace()]
    assert all(listed.fullmatch(ch) for ch in controls)
