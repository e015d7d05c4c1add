"""Field validators shared by several domains' HTTP schemas (they raise, per marshmallow 4)."""

from __future__ import annotations

import functools
import zoneinfo

from marshmallow import ValidationError


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
