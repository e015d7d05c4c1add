"""Field validators shared by several domains' HTTP schemas (they raise, per marshmallow 4)."""

from __future__ import annotations

import functools
import zoneinfo
from typing import Any

import phonenumbers
from flask import current_app
from marshmallow import ValidationError, fields


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def iana_timezone(value: str) -> None:
    """Accept only real IANA zone names (``America/New_York``, ``UTC``)."""
    if value not in _known_zones():
        raise ValidationError("Not a known IANA time zone name, e.g. 'Europe/Paris'.")


def not_blank(value: str) -> None:
    """Refuse strings that are empty once whitespace is stripped."""
    if not value.strip():
        raise ValidationError("Must not be blank.")


def e164_phone(value: str, default_region: str = "US") -> str:
    """Normalise a phone number to E.164, or raise naming the problem.

    Numbers written without a country code are read in ``default_region``.
    """
    try:
        parsed = phonenumbers.parse(value, default_region)
    except phonenumbers.NumberParseException:
        raise ValidationError("Not a phone number.") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValidationError("Not a valid phone number; include the country code, e.g. +1.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


class PhoneNumber(fields.String):
    """A phone number field that loads as E.164 (``+12025550123``)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        region = current_app.config["SETTINGS"].default_phone_region
        return e164_phone(text, region)
