"""Shared field validators (no I/O)."""

import pytest
from marshmallow import ValidationError

from vitalbridge.http.validators import e164_phone, iana_timezone


@pytest.mark.parametrize(("typed", "normalised"), [
    ("(202) 555-0143", "+12025550143"),
    ("202.555.0143", "+12025550143"),
    ("+44 20 7946 0958", "+442079460958"),
    ("+1 202 555 0143", "+12025550143"),
])
def test_phones_are_normalised_to_e164(typed, normalised):
    assert e164_phone(typed) == normalised


@pytest.mark.parametrize("typed", ["12", "not a phone", "+999 1234", ""])
def test_bad_phones_are_refused(typed):
    with pytest.raises(ValidationError):
        e164_phone(typed)


def test_only_real_zones_are_accepted():
    iana_timezone("America/New_York")
    with pytest.raises(ValidationError):
        iana_timezone("America/Gotham")
    with pytest.raises(ValidationError):
        iana_timezone("../etc/passwd")
