"""Calendar arithmetic of visit summaries: ages and "the last 12 months"."""

from __future__ import annotations

from datetime import date, datetime


def age_on(birth_date: date, day: date) -> int:
    """Whole years from ``birth_date`` to ``day`` (a 29 February birthday counts from
    1 March in other years)."""
    before_birthday = (day.month, day.day) < (birth_date.month, birth_date.day)
    return day.year - birth_date.year - before_birthday


def a_year_before(moment: datetime) -> datetime:
    """The same moment a calendar year earlier (29 February falls back to the 28th, as
    PostgreSQL's ``- interval '1 year'`` does)."""
    try:
        return moment.replace(year=moment.year - 1)
    except ValueError:
        return moment.replace(year=moment.year - 1, day=28)
