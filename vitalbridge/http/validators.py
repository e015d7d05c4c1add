"""Fields, validators and base schemas shared by every domain's HTTP schemas.

Every request body and query string is loaded by a subclass of ``InputSchema`` (query
strings: ``QueryArgs``), so the rules here hold for a future field without anyone
remembering them: text cannot carry what PostgreSQL or UTF-8 cannot hold, timestamps and
dates are strict RFC 3339 / ``YYYY-MM-DD`` inside a range that no date arithmetic can
overflow, and a query string names only arguments that exist. Validators raise, per
marshmallow 4.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import phonenumbers
from flask import current_app
from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, types, validate
from webargs.multidictproxy import MultiDictProxy
from werkzeug.datastructures import MultiDict

from vitalbridge.http import text_rules

# ---------------------------------------------------------------------------------------
# Text

# NUL cannot be stored in a PostgreSQL text value and a lone surrogate cannot be encoded
# as UTF-8: either would fail deep in the database driver (a 500) instead of here (a 422).
_SURROGATE = re.compile("[\ud800-\udfff]")
# C0 controls, DEL and C1 controls; a single line also refuses line and paragraph
# separators. Multi-line text (a reason) keeps tab, line feed and carriage return.
_SINGLE_LINE_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_MULTI_LINE_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def storable(text: str) -> bool:
    """Whether PostgreSQL can store ``text`` and UTF-8 encode it: no NUL, no lone surrogate."""
    return "\x00" not in text and not _SURROGATE.search(text)


def check_text(value: str, *, multiline: bool = False) -> None:
    """Refuse text with unpaired surrogates or control characters (NUL among them)."""
    if _SURROGATE.search(value):
        raise ValidationError("Must be valid Unicode: no unpaired surrogates.")
    forbidden = _MULTI_LINE_FORBIDDEN if multiline else _SINGLE_LINE_FORBIDDEN
    if forbidden.search(value):
        raise ValidationError("Must not contain control characters.")


class Text(fields.String):
    """A string that passes ``check_text``: single-line unless ``multiline=True``.

    The check sees the text after ``tidy``: a field that trims or collapses whitespace
    stores no tab or newline, so it need not refuse them. ``must_hold``: a character
    class (vitalbridge/http/text_rules.py) one character must belong to, with the
    message that says so. The OpenAPI document shows the field's ``pattern``: built from
    the same character classes as the checks, for the text as sent (before ``tidy``).
    """

    def __init__(self, *, multiline: bool = False,
                 must_hold: tuple[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.multiline = multiline
        self.must_hold = must_hold
        if must_hold is not None:
            self.validators.append(_holding(*must_hold))
        if not self._states_its_own_form():
            self.metadata = {"pattern": self.pattern(), **self.metadata}

    def pattern(self) -> str:
        """The documented pattern of the text as sent."""
        required = not_blank in self.validators
        if self.must_hold is not None:
            return text_rules.containing(text_rules.lines_chars() if self.multiline
                                         else text_rules.line_chars(), self.must_hold[0])
        return text_rules.lines(required=required) if self.multiline else \
            text_rules.line(required=required)

    def _states_its_own_form(self) -> bool:
        # A list of values, a regular expression or a format says more than a pattern.
        return "format" in self.metadata or "pattern" in self.metadata or any(
            isinstance(v, validate.OneOf | validate.Regexp) for v in self.validators)

    def tidy(self, text: str) -> str:
        """What this field makes of the text before it is checked (unchanged here)."""
        return text

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        raw = super()._deserialize(value, attr, data, **kwargs)
        for length in (v for v in self.validators if isinstance(v, validate.Length)):
            length(raw)  # the document bounds the text as sent, not as tidied
        text = self.tidy(raw)
        check_text(text, multiline=self.multiline)
        return text


def _holding(character_class: str, message: str) -> Callable[[str], None]:
    needed = re.compile(character_class)

    def holds(value: str) -> None:
        if not needed.search(value):
            raise ValidationError(message)

    return holds


class Trimmed(Text):
    """Text stripped of surrounding whitespace before it is validated."""

    def tidy(self, text: str) -> str:
        """Strip surrounding whitespace."""
        return text.strip()

    def pattern(self) -> str:
        """Any whitespace around the line is allowed: it is stripped."""
        return text_rules.trimmed_line(required=needs_something_visible(self))


def needs_something_visible(field: Text) -> bool:
    """Whether a tidied field refuses text that is all whitespace: not blank, or at least
    one character long once tidied."""
    return not_blank in field.validators or any(
        isinstance(v, validate.Length) and (v.min or 0) >= 1 for v in field.validators)


class Email(Text, fields.Email):
    """An e-mail address (marshmallow's check), with the shared text rule first."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**{"metadata": {"format": "email"}, **kwargs})


@functools.cache
def _known_zones() -> frozenset[str]:
    # available_timezones() lists every file of the system's zoneinfo directory:
    # "localtime" (a link to the host's zone, whatever that is) and "Factory" (a
    # placeholder with the "-00" abbreviation) are files there, not IANA zones to use.
    not_zones = {"localtime", "Factory", "posixrules"}
    return frozenset(name for name in zoneinfo.available_timezones()
                     if name not in not_zones and not name.startswith(("posix/", "right/")))


def iana_timezone(value: str) -> None:
    """Accept only real IANA zone names (``America/New_York``, ``UTC``)."""
    if value not in _known_zones():
        raise ValidationError("Not a known IANA time zone name, e.g. 'Europe/Paris'.")


class TimeZoneName(Text):
    """An IANA time zone name (``America/New_York``, ``UTC``), documented as
    ``format: iana-time-zone``."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"format": "iana-time-zone", **kwargs.pop("metadata", {})}
        super().__init__(validate=iana_timezone, metadata=metadata, **kwargs)


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


class PhoneNumber(Text):
    """A phone number field that loads as E.164 (``+12025550123``).

    Documented as ``format: phone``: what makes a number valid (its region's plan) is no
    regular expression.
    """

    def __init__(self, **kwargs: Any) -> None:
        phone = {"type": "string", "format": "phone"}
        # Nullable: the format only on the string branch (a null has no format, but
        # some readers of the document check it against one).
        form = {"anyOf": [phone, {"type": "null"}]} if kwargs.get("allow_none") or (
            "load_default" in kwargs and kwargs["load_default"] is None) else phone
        super().__init__(metadata={**form, **kwargs.pop("metadata", {})}, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        region = current_app.config["SETTINGS"].default_phone_region
        return e164_phone(text, region)


# ---------------------------------------------------------------------------------------
# Timestamps and dates

# Years 1900 to 2200, as written: wide enough for any clinic (records back to the oldest
# living patients' births, bookings planned decades ahead), and far enough from
# datetime's own limits (years 1 and 9999) that converting to UTC or any zone (offsets up
# to 14 h) and adding the longest span the API allows (a 31-day window, 30 days of
# notice, a week of calendar expansion) can never overflow into a 500. The bound is on
# the year as written (not in UTC), so that the document's pattern states it exactly.
EARLIEST_YEAR, LATEST_YEAR = 1900, 2200
EARLIEST_DATE = date(EARLIEST_YEAR, 1, 1)
LATEST_DATE = date(LATEST_YEAR, 12, 31)
_YEAR_AS_SENT = "(19[0-9]{2}|2[01][0-9]{2}|2200)"
DATE_AS_SENT = f"^{_YEAR_AS_SENT}-[0-9]{{2}}-[0-9]{{2}}$"
INSTANT_AS_SENT = (f"^{_YEAR_AS_SENT}-[0-9]{{2}}-[0-9]{{2}}[Tt][0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}"
                   r"(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$")

# RFC 3339 section 5.6 date-time (T or t, seconds required, any fraction, Z/z or +-HH:MM);
# the offset is optional here only so that a naive time is told it lacks one.
_RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}"
                      r"(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})?")
_YYYY_MM_DD = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class Timestamp(fields.AwareDateTime):
    """An RFC 3339 instant with an offset, written in the years 1900 to 2200; naive is
    refused.

    marshmallow 4 reads dates with ``fromisoformat``, which also takes ``20270314T093000Z``,
    ``2027-03-14 09:30Z`` or ``2027-03-14T09Z``; shared/API.md promises RFC 3339 only.
    """

    default_error_messages = {
        "too_early": f"Must be in the years {EARLIEST_YEAR} to {LATEST_YEAR}.",
        "too_late": f"Must be in the years {EARLIEST_YEAR} to {LATEST_YEAR}.",
    }

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"pattern": INSTANT_AS_SENT, **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any,
                     **kwargs: Any) -> datetime:
        if not isinstance(value, str) or not _RFC3339.fullmatch(value):
            raise self.make_error("invalid", input=value, obj_type=self.OBJ_TYPE)
        stamp = super()._deserialize(value.upper(), attr, data, **kwargs)
        if stamp.year < EARLIEST_YEAR:
            raise self.make_error("too_early")
        if stamp.year > LATEST_YEAR:
            raise self.make_error("too_late")
        return stamp


def strict_date(text: object) -> date | None:
    """The date ``text`` writes as ``YYYY-MM-DD``, or None for anything else.

    ``date.fromisoformat`` alone also reads ``20270315`` and ``2027-W11-1``.
    """
    if not isinstance(text, str) or not _YYYY_MM_DD.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def date_in_range(day: date, earliest: date = EARLIEST_DATE,
                  latest: date = LATEST_DATE) -> None:
    """Refuse a date outside ``[earliest, latest]`` (1900-01-01 to 2200-12-31 by default)."""
    if day < earliest:
        raise ValidationError(f"Must be on or after {earliest.isoformat()}.")
    if day > latest:
        raise ValidationError(f"Must be on or before {latest.isoformat()}.")


class CalendarDate(fields.Date):
    """A date written exactly ``YYYY-MM-DD``, from 1900-01-01 to 2200-12-31."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"pattern": DATE_AS_SENT, **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> date:
        day = strict_date(value)
        if day is None:
            raise self.make_error("invalid", input=value, obj_type=self.OBJ_TYPE)
        date_in_range(day)
        return day


# ---------------------------------------------------------------------------------------
# Base schemas


def _guard_plain_strings(field: fields.Field) -> None:
    """Give a string field that is not a ``Text`` the shared text rule as a validator."""
    if isinstance(field, fields.String) and not isinstance(field, Text):
        field.validators.insert(0, check_text)
    if isinstance(field, fields.List):
        _guard_plain_strings(field.inner)


class InputSchema(Schema):
    """The base of every request body and query string.

    ``Text`` fields check their text themselves; a plain ``fields.String`` added later
    (or inside a ``List``) gets the same check here, so NUL or a lone surrogate can never
    reach the database or the encoder through a field someone forgot.

    In a JSON body, numbers and booleans are what JSON Schema says they are: an integer
    field takes a number with no fraction (``7`` or ``7.0``), never ``"7"``; a boolean
    takes ``true`` or ``false``, never ``"yes"`` or ``1``. (A query string carries text
    only: ``QueryArgs`` reads ``"7"`` and ``"true"``.)
    """

    class Meta:
        unknown = RAISE

    READS_QUERY_STRINGS = False

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        """Apply the shared text rule to every string field, and JSON's types."""
        super().on_bind_field(field_name, field_obj)
        _guard_plain_strings(field_obj)
        if not self.READS_QUERY_STRINGS:
            _json_types_only(field_obj)

    @pre_load
    def _integral_numbers_are_integers(self, data: Any, **kwargs: Any) -> Any:
        if self.READS_QUERY_STRINGS or not isinstance(data, Mapping):
            return data
        integers = {field.data_key or name for name, field in self.load_fields.items()
                    if _holds_integers(field)}
        return {key: _as_integers(value) if key in integers else value
                for key, value in data.items()}


def _holds_integers(field: fields.Field) -> bool:
    return isinstance(field, fields.Integer) or (
        isinstance(field, fields.List) and isinstance(field.inner, fields.Integer))


def _as_integers(value: Any) -> Any:
    if isinstance(value, list):
        return [_as_integers(item) for item in value]
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _json_types_only(field: fields.Field) -> None:
    if isinstance(field, fields.Integer):
        field.strict = True
    if isinstance(field, fields.Boolean):
        field.truthy, field.falsy = {True}, {False}
    if isinstance(field, fields.List):
        _json_types_only(field.inner)


class QueryArgs(InputSchema):
    """The base of every query-string schema.

    An unknown name is a 422 (``Unknown field.``): webargs would drop it, and a misspelt
    filter (``?stauts=booked``) must not silently widen a list. An empty value of a known
    argument means "not given": ``?specialty=&q=`` is how a form or the table in
    shared/API.md writes "no filter", and an empty string is never a useful filter value.
    (The document says so: every optional query argument has ``allowEmptyValue``.)
    """

    READS_QUERY_STRINGS = True

    def load(self, data: Mapping[str, Any] | Sequence[Mapping[str, Any]], *,
             many: bool | None = None, partial: bool | types.StrSequenceOrSet | None = None,
             unknown: types.UnknownOption | None = None) -> Any:
        """Load with ``unknown=RAISE`` whatever the caller asks (webargs says EXCLUDE)."""
        return super().load(data, many=many, partial=partial, unknown=RAISE)

    @pre_load
    def _empty_means_absent(self, data: Any, **kwargs: Any) -> Any:
        known = {field.data_key or name for name, field in self.load_fields.items()}

        def kept(name: str, value: Any) -> bool:
            return not (value == "" and name in known)  # unknown names stay, to be refused

        if isinstance(data, MultiDictProxy):  # webargs' view of request.args
            raw = data.data
            pairs = raw.items(multi=True) if isinstance(raw, MultiDict) else raw.items()
            return MultiDictProxy(MultiDict([(k, v) for k, v in pairs if kept(k, v)]), self)
        if isinstance(data, Mapping):
            return {name: value for name, value in data.items() if kept(name, value)}
        return data
