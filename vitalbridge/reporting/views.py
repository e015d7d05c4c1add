"""GET /api/v1/reports/utilization: composed from the provider, schedule and appointment
domains' answers, asked in one read snapshot; the arithmetic is in ``utilization``."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask.typing import ResponseReturnValue

from vitalbridge.appointment.messages import AppointmentPeriods, AppointmentSpan
from vitalbridge.http.auth import requires
from vitalbridge.http.blueprint import Blueprint
from vitalbridge.http.consistency import await_read_models
from vitalbridge.http.error_docs import read_model_answer
from vitalbridge.http.pagination import cursor_values, encode_cursor, text_value, uuid_value
from vitalbridge.http.queries import ask, one_snapshot
from vitalbridge.messaging.errors import InvalidCommand
from vitalbridge.messaging.messages import Role
from vitalbridge.messaging.read_models import CURRENT
from vitalbridge.provider.messages import FindProviders, ListProviders, ProviderView
from vitalbridge.reporting import schemas
from vitalbridge.reporting.queries import DailyFigures
from vitalbridge.reporting.read_models import PROVIDER_DAYS, ProviderDays, day_json
from vitalbridge.reporting.render import report_response
from vitalbridge.reporting.utilization import (
    ProviderUsage,
    Usage,
    daily_usage,
    totals,
    utc_cover,
)
from vitalbridge.schedule.messages import (
    HoursZoneOn,
    ProviderZone,
    WorkingPeriods,
    WorkingTime,
)
from vitalbridge.services import services

blueprint = Blueprint("reports", __name__, url_prefix="/api/v1",
                      description="Reports over the tenant's schedules and appointments.")

NameKey = tuple[str, str, uuid.UUID]


@blueprint.get("/reports/utilization")
@requires(Role.ADMIN)
@blueprint.arguments(schemas.UtilizationArgs, location="query")
@read_model_answer
@blueprint.response(200, schemas.UtilizationPageSchema)
def utilization_report(args: dict[str, Any]) -> ResponseReturnValue:
    """Utilization per provider and local day, `from` to `to` inclusive (admin).

    Each local date runs from midnight to midnight in the provider's `timezone` (the
    zone of its working hours on the date `to`, else its own), so DST dates last 23 or
    25 hours. Each date counts the working hours that governed it (hours set later from
    a later date leave it as it was).

    - `working_minutes`: weekly working hours (date overrides winning on their dates)
      minus approved leave, inside that date; none after a deactivation.
    - `booked_minutes`: active appointments (booked, checked_in, completed) cut to that
      date (one that crosses midnight counts on both dates).
    - `appointments`: active appointments starting on that date.
    - `cancellations`, `no_shows`: appointments now cancelled / no_show that start on
      that date.
    - `utilization`: booked_minutes / working_minutes, to 3 places (above 1 when more
      was booked than is now working time); null when working_minutes is 0.
    - `totals`: the sums over the dates, with their own utilization.

    Minutes are whole (rounded down). Providers come in (family_name, given_name, id)
    order, deactivated ones included (`active: false`); `limit` counts providers, at
    most 200 a page. `provider_id` (repeatable) limits the report to those providers;
    one unknown in this tenant is 422. A page costs the same few SQL statements
    whatever its providers or dates.

    From the daily provider figures read model (`meta` says how fresh) for dates within
    its rolling window (REPORT_WINDOW_PAST_DAYS before today to
    REPORT_WINDOW_FUTURE_DAYS after); a report reaching outside it is computed from the
    schedules and appointments themselves (slower; `meta.status` current).
    """
    limit = args["limit"]
    model = services().read_model(PROVIDER_DAYS)
    assert isinstance(model, ProviderDays)
    await_read_models([model])
    with one_snapshot():
        page = _provider_page(args)
        shown = page[:limit]
        zones = _zones_on(shown, args["last"])
        figures = ask(DailyFigures(model=model, providers=tuple(
            (p.id, zones[p.id]) for p in shown), first=args["first"], last=args["last"]))
        if figures is None:  # dates the read model does not hold: computed live
            items, meta = _live(shown, args), {"as_of": datetime.now(UTC), "status": CURRENT,
                                               "lag_seconds": 0.0}
        else:
            items = [(_head(p, zones[p.id], f.totals), f.days_json)
                     for p, f in zip(shown, figures.providers, strict=True)]
            meta = figures.freshness.to_json()
    cursor = encode_cursor(_name_key(shown[-1])) if len(page) > limit else None
    return report_response(items, cursor, meta)


def _zones_on(providers: list[ProviderView], last: date) -> dict[uuid.UUID, str]:
    """The zone each provider's report splits its days in: its hours' on ``last``."""
    zones = ask(HoursZoneOn(provider_ids=tuple(p.id for p in providers), day=last)) \
        if providers else {}
    return {p.id: zones.get(p.id, p.timezone) for p in providers}


def _head(provider: ProviderView, zone: str, sums: Usage) -> dict[str, Any]:
    return {"provider_id": provider.id, "display_name": provider.display_name,
            "timezone": zone, "active": provider.active, "totals": sums}


def _live(shown: list[ProviderView], args: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """The report computed from the command tables (dates the read model does not hold)."""
    start, end = utc_cover(args["first"], args["last"])
    working, appointments = _facts(shown, start, end, args["last"])
    items = []
    for provider in shown:
        usage = _usage(provider, working[provider.id], appointments[provider.id],
                       args["first"], args["last"])
        days = "[" + ",".join(day_json(day) for day in usage.days) + "]"
        items.append((_head(provider, usage.timezone, usage.totals), days))
    return items


def _provider_page(args: dict[str, Any]) -> list[ProviderView]:
    """Up to ``limit + 1`` providers in name order after the cursor (one more says more)."""
    after = _name_cursor(args["cursor"])
    ids = tuple(dict.fromkeys(args["provider_ids"]))
    if not ids:
        return list(ask(ListProviders(limit=args["limit"], after=after)))
    found = ask(FindProviders(ids=ids))
    missing = [str(i) for i in ids if i not in {p.id for p in found}]
    if missing:
        raise InvalidCommand("Some provider_id values refer to nothing in this tenant.",
                             errors={"provider_id": [f"No such provider: {m}"
                                                     for m in missing]})
    return _following(found, after)[:args["limit"] + 1]


def _following(providers: list[ProviderView], after: NameKey | None) -> list[ProviderView]:
    # The database ordered them; its collation need not agree with Python's string
    # order, so the page continues after the cursor's provider by position, not by key.
    if after is None:
        return providers
    for index, provider in enumerate(providers):
        if provider.id == after[2]:
            return providers[index + 1:]
    raise InvalidCommand("The cursor belongs to another set of provider_id values.",
                         errors={"cursor": ["Invalid cursor."]})


def _facts(providers: list[ProviderView], start: datetime, end: datetime,
           last: date) -> tuple[
        dict[uuid.UUID, WorkingTime], dict[uuid.UUID, list[AppointmentSpan]]]:
    """Working time and appointments of the providers: one question to each domain.

    The days are counted in the zone of the hours governing the last date reported, so
    hours set later (from today on) leave a past report as it was.
    """
    if not providers:
        return {}, {}
    working = ask(WorkingPeriods(
        providers=tuple(ProviderZone(p.id, p.timezone) for p in providers),
        start=start, end=end, zone_on=last))
    appointments = ask(AppointmentPeriods(provider_ids=tuple(p.id for p in providers),
                                          start=start, end=end))
    return {w.provider_id: w for w in working}, appointments


def _usage(provider: ProviderView, working: WorkingTime,
           appointments: list[AppointmentSpan], first: date, last: date) -> ProviderUsage:
    days = daily_usage(first=first, last=last, zone=ZoneInfo(working.timezone),
                       working=working.periods, appointments=appointments,
                       working_until=provider.deactivated_at)
    return ProviderUsage(provider_id=provider.id, display_name=provider.display_name,
                         timezone=working.timezone, active=provider.active, days=days,
                         totals=totals(days))


def _name_key(provider: ProviderView) -> NameKey:
    return provider.family_name, provider.given_name, provider.id


def _name_cursor(cursor: str | None) -> NameKey | None:
    return cursor_values(cursor, text_value, text_value, uuid_value)
