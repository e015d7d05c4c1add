"""The reporting package's query: a page of daily provider figures, from the read model."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import text

from vitalbridge.messaging.bus import ReadContext
from vitalbridge.messaging.messages import Query
from vitalbridge.messaging.read_models import (
    Freshness,
    freshness_of,
    freshness_params,
    with_freshness,
)
from vitalbridge.reporting import read_model_tables as tables
from vitalbridge.reporting.read_models import ProviderDays
from vitalbridge.reporting.utilization import Usage


@dataclass(frozen=True, kw_only=True)
class DailyFigures(Query):
    """Each provider's dates ``first``..``last`` in its zone, from the read model.

    Answers None when the rows do not hold every date asked (outside the window kept,
    or never built): the asker computes those live.
    """

    model: ProviderDays
    providers: tuple[tuple[uuid.UUID, str], ...]  # (provider, zone its dates run in)
    first: date
    last: date


@dataclass(frozen=True)
class ProviderFigures:
    """One provider's dates as JSON text (an array, every date in order) and their sums."""

    days_json: str
    totals: Usage


@dataclass(frozen=True)
class FiguresPage:
    """The figures of the providers asked, in the order asked, and how fresh they are."""

    providers: list[ProviderFigures]
    freshness: Freshness


_SUMS = ", ".join(f"coalesce(sum(r.{name}), 0) AS {name}" for name in tables.FIGURES)
# One row per provider asked: its dates' JSON joined in date order (each date stored
# already serialized) and their sums, read as one range of the primary key per
# provider (in the zone its report splits days in). ``days`` counts the rows found.
_PAGE = f"""
SELECT a.ord, f.*
  FROM unnest(CAST(:providers AS uuid[]), CAST(:zones AS text[]))
       WITH ORDINALITY AS a (provider_id, zone, ord)
 CROSS JOIN LATERAL (
       SELECT '[' || string_agg(r.day_json, ',' ORDER BY r.local_date) || ']' AS days_json,
              count(*) AS days, {_SUMS}
         FROM provider_days r
        WHERE r.tenant_id = :tenant AND r.provider_id = a.provider_id AND r.zone = a.zone
          AND r.local_date BETWEEN :first AND :last) AS f
"""
_PAGE_WITH_FRESHNESS = with_freshness(_PAGE)
# The dates the rows hold, and today's date (by the clock the window is measured with).
_HELD = text("""
SELECT first_date, last_date, CAST(timezone('UTC', clock_timestamp()) AS date) AS today
  FROM provider_day_window
""")


def daily_figures(query: DailyFigures, ctx: ReadContext) -> FiguresPage | None:
    """Two statements: the dates the rows hold, then the page and its freshness."""
    held = ctx.session.execute(_HELD).one_or_none()
    if held is None:
        return None
    kept_from, _ = query.model.window.around(held.today)
    if query.first < max(held.first_date, kept_from) \
            or query.last > held.last_date:
        return None
    rows = ctx.session.execute(_PAGE_WITH_FRESHNESS, {
        **freshness_params([query.model]),
        "tenant": ctx.principal.tenant_id, "first": query.first, "last": query.last,
        "providers": [p for p, _ in query.providers], "zones": [z for _, z in query.providers],
    }).all()
    page = sorted((row for row in rows if row.ord is not None), key=lambda row: row.ord)
    if any(row.days != (query.last - query.first).days + 1 for row in page):
        return None  # a provider's rows not all there (not yet filled): computed live
    return FiguresPage(providers=[_figures(row) for row in page],
                       freshness=freshness_of(rows[0]))


def _figures(row: Any) -> ProviderFigures:
    return ProviderFigures(days_json=row.days_json, totals=Usage(
        **{name: getattr(row, name) for name in tables.FIGURES}))


QUERY_HANDLERS = {DailyFigures: daily_figures}
