"""Schemathesis hooks for tests/api/test_openapi_checks_all.py (SCHEMATHESIS_HOOKS).

Three kinds, each with its reason:

- Strategies for the formats the document names that JSON Schema does not define
  (``phone``, ``iana-time-zone``): a value of the format, as a client would send (the
  coverage phase does not use them: its phone numbers are replaced by one of these).
- Values no client can make up are not made up: a cursor, a Consistency-Token and a
  current version (If-Match) are issued by the server, and an Idempotency-Key is the
  client's own unique name for one request. A generated one that obeys the document is
  refused by design (422 cursor, 400 token, 412 version, 422 key reused with another
  body; each has its own tests), so such a value is dropped, or made unique, before the
  call. A value that breaks the document is left alone: it must still be refused.
- A request generated to obey the document is made to obey the rules the document
  states in words because JSON Schema cannot state them (one field against another, or
  against today): intervals that end after they start, ``to`` after ``from`` and a
  window of at most a week, ``end`` after ``start`` (an appointment: 5 minutes to 8 hours),
  a birth date not in the future, one of provider_id and specialty; and the
  ids it names in its body or query are the seeded rows' (VB_SEEDED_IDS), since a
  random id names nothing and a reference to nothing is refused (422, or 404). Each of
  those refusals has tests of its own.
"""

from __future__ import annotations

import json
import os
import re
import uuid
import zoneinfo
from datetime import date, datetime, timedelta
from typing import Any

import schemathesis
from hypothesis import strategies as st

# A few numbers of regions whose plans differ (with and without a country code).
PHONES = ["+1 202 555 0143", "(202) 555-0187", "+44 20 7946 0958", "+33 1 42 68 53 00",
          "+49 30 901820", "+81 3-1234-5678", "+61 2 9374 4000", "202.555.0123"]
ZONES = [*sorted(z for z in zoneinfo.available_timezones()
                 if "/" in z and not z.startswith(("posix/", "right/", "Etc/"))), "UTC"]

schemathesis.openapi.format("phone", st.sampled_from(PHONES))
schemathesis.openapi.format("iana-time-zone", st.sampled_from(ZONES))

# The document's own patterns of the two headers (vitalbridge/http/error_docs.py).
_KEY = re.compile(r"[!-~]([ -~]{0,253}[!-~])?")
_VERSION = re.compile(r'(W/)?"[0-9]{1,10}"|[0-9]{1,10}')


@schemathesis.hook
def before_call(ctx: Any, case: Any, **kwargs: Any) -> None:
    """Drop or renew the values only the server (or one request) can own; make a valid
    request obey the rules stated in words."""
    _drop_server_owned_values(case)
    if case.meta is not None and case.meta.generation.mode.is_positive:
        for container in (case.query, case.body):
            if isinstance(container, dict):
                _name_seeded_rows(container)
                _in_order(container, case.path)
                _whom_availability_is_for(container, case.path)
                for intervals in (container.get("intervals"), container.get("rules")):
                    _ending_after_starting(intervals)
                if _is_future(container.get("birth_date")):
                    container["birth_date"] = "1980-05-17"
                if isinstance(container.get("phone"), str) and container["phone"] not in PHONES:
                    # The coverage phase makes strings without the format's strategy.
                    container["phone"] = PHONES[0]


def _drop_server_owned_values(case: Any) -> None:
    headers = case.headers or {}
    if _KEY.fullmatch(str(headers.get("Idempotency-Key", ""))):
        headers["Idempotency-Key"] = uuid.uuid4().hex
    if _VERSION.fullmatch(str(headers.get("If-Match", ""))):
        del headers["If-Match"]
    if "Consistency-Token" in headers and _token_shaped(headers["Consistency-Token"]):
        del headers["Consistency-Token"]
    query = case.query or {}
    if isinstance(query.get("cursor"), str) and len(query["cursor"]) <= 1500:
        del query["cursor"]


def _token_shaped(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 200


_SEEDED = json.loads(os.environ.get("VB_SEEDED_IDS", "{}"))
_REFERENCES = ("provider_id", "patient_id")


def _name_seeded_rows(container: dict[str, Any]) -> None:
    for name in _REFERENCES:
        if name in _SEEDED and isinstance(container.get(name), str):
            container[name] = _SEEDED[name]
        elif name in _SEEDED and isinstance(container.get(name), list):
            container[name] = [_SEEDED[name] for _ in container[name]]


def _whom_availability_is_for(container: dict[str, Any], path: str) -> None:
    # provider_id or specialty: parameters cannot say "one of the two is required".
    if path.endswith("/availability") and not (container.get("provider_id")
                                               or container.get("specialty")):
        container["provider_id"] = [_SEEDED["provider_id"]]


def _ending_after_starting(intervals: Any) -> None:
    # Local clock intervals of working hours and overrides: each ends after it starts,
    # and none overlaps another of its day (a weekday's, for working hours).
    if not isinstance(intervals, list):
        return
    for interval in intervals:
        if isinstance(interval, dict) and str(interval.get("end")) <= str(interval.get("start")):
            interval["start"], interval["end"] = "09:00", "17:00"
    kept: list[Any] = []
    for interval in intervals:
        if not any(_overlap(interval, other) for other in kept):
            kept.append(interval)
    intervals[:] = kept


def _overlap(one: Any, other: Any) -> bool:
    if not (isinstance(one, dict) and isinstance(other, dict)):
        return False
    if one.get("weekday") != other.get("weekday"):
        return False
    return str(one.get("start")) < str(other.get("end")) and \
        str(other.get("start")) < str(one.get("end"))


def _in_order(container: dict[str, Any], path: str) -> None:
    for first, last in (("from", "to"), ("start", "end")):
        begin, end = _read(container.get(first)), _read(container.get(last))
        if begin is None or end is None or type(begin) is not type(end):
            continue
        booking = "appointments" in path  # an appointment lasts 5 minutes to 8 hours
        shortest = timedelta(minutes=5) if booking else timedelta(0)
        longest = timedelta(hours=8) if booking else timedelta(days=7)
        if not (begin < end and begin + shortest <= end <= begin + longest):
            if isinstance(begin, datetime):
                container[last] = (begin + timedelta(minutes=30)).isoformat()
            elif not begin <= end <= begin + timedelta(days=7):  # dates: to is inclusive
                container[last] = begin.isoformat()


def _read(value: Any) -> datetime | date | None:
    if not isinstance(value, str):
        return None
    try:
        text = value.upper()  # RFC 3339 allows "t" and "z"
        return datetime.fromisoformat(text) if "T" in text else date.fromisoformat(text)
    except ValueError:
        return None


def _is_future(value: Any) -> bool:
    day = _read(value)
    return isinstance(day, date) and not isinstance(day, datetime) and day > date.today()
