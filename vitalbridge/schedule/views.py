"""HTTP endpoints of the schedule domain: parse, send a message, answer.

Provider keys act on their own provider only: another provider's working hours,
overrides, schedule or new leave are 403 for them, another provider's leave requests
do not exist for them (404, and absent from lists).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import url_for
from flask.typing import ResponseReturnValue
from marshmallow import ValidationError

from vitalbridge.appointment.messages import BusyPeriods, BusyTimes
from vitalbridge.http.auth import TENANT_ROLES, current_principal, requires
from vitalbridge.http.blueprint import Blueprint
from vitalbridge.http.commands import expected_version, send_command
from vitalbridge.http.error_docs import conditional, conflicts, if_match
from vitalbridge.http.pagination import page_response, timestamp_id_cursor
from vitalbridge.http.queries import ask, one_snapshot
from vitalbridge.http.render import single
from vitalbridge.http.schemas import AckSchema
from vitalbridge.http.validators import date_in_range, strict_date
from vitalbridge.messaging.errors import InvalidCommand, NotFound, PermissionDenied
from vitalbridge.messaging.messages import Role
from vitalbridge.provider.messages import FindProviders, GetProvider, ProviderView
from vitalbridge.schedule import schemas
from vitalbridge.schedule.calendar import WeeklyRule
from vitalbridge.schedule.handlers import IllegalTransition, ProviderInactive
from vitalbridge.schedule.messages import (
    ApproveLeaveRequest,
    BookedPeriod,
    CancelLeaveRequest,
    GetAvailability,
    GetLeaveRequest,
    GetWorkingHours,
    LeaveStatus,
    ListLeaveRequests,
    ProviderFacts,
    ProviderState,
    RejectLeaveRequest,
    RemoveDateOverride,
    SetDateOverride,
    SetWorkingHours,
    SubmitLeaveRequest,
    ViewSchedule,
)
from vitalbridge.tenant.messages import GetTenantSettings

blueprint = Blueprint("schedule", __name__, url_prefix="/api/v1",
                      description="Schedules: working hours, date overrides, leave requests.")

PROVIDER_PATH = "/providers/<uuid:provider_id>"


@blueprint.put(f"{PROVIDER_PATH}/working-hours")
@requires(Role.ADMIN, Role.PROVIDER)
@conflicts(ProviderInactive)
@if_match
@blueprint.arguments(schemas.WorkingHoursBody)
@blueprint.response(200, AckSchema)
def set_working_hours(body: dict[str, Any], provider_id: uuid.UUID) -> ResponseReturnValue:
    """Set Working Hours from a date on; emits schedule.working_hours_set.

    Times are local to `timezone` (the provider's when omitted). The rules govern the
    local dates from `effective_from` on: they replace the hours set from that date on,
    and earlier hours keep governing the dates before it. Without `effective_from` they
    start today (in `timezone`), so past dates keep their hours; a provider's first
    hours cover every date. Overlapping or inverted intervals of a weekday are 422
    naming each rule (`rules.N`). If-Match optional.
    """
    provider = _provider_for_change(provider_id)
    # An unknown provider has no zone; its command is refused before the zone matters.
    zone = body["timezone"] or (provider.timezone if provider else "UTC")
    rules = tuple(WeeklyRule(r["weekday"], r["start"], r["end"]) for r in body["rules"])
    return send_command(SetWorkingHours(
        provider_id=provider_id, timezone=zone, rules=rules,
        effective_from=body["effective_from"], expected_version=expected_version(),
        provider_state=_state(provider)))


@blueprint.get(f"{PROVIDER_PATH}/working-hours")
@requires(*TENANT_ROLES)
@blueprint.response(200, schemas.WorkingHoursSchema)
@conditional
def get_working_hours(provider_id: uuid.UUID) -> ResponseReturnValue:
    """A provider's weekly working hours in force today, and the `upcoming` ones.

    404 when never set. The ETag (and `version`) counts every PUT.
    """
    _own_provider_only(provider_id)
    return single(ask(GetWorkingHours(provider_id=provider_id)), "working hours")


@blueprint.put(f"{PROVIDER_PATH}/overrides/<string:day>")
@requires(Role.ADMIN, Role.PROVIDER)
@conflicts(ProviderInactive)
@if_match
@blueprint.arguments(schemas.OverrideBody)
@blueprint.response(200, AckSchema)
def set_override(body: dict[str, Any], provider_id: uuid.UUID, day: str) -> ResponseReturnValue:
    """Set a date override: the local date gets its own `intervals`, or `closed: true`.

    Emits schedule.override_set; answers the provider id and the override's version.
    """
    provider = _provider_for_change(provider_id)
    intervals = tuple((i["start"], i["end"]) for i in body.get("intervals", ()))
    return send_command(SetDateOverride(provider_id=provider_id, day=_date(day),
                                        intervals=intervals,
                                        expected_version=expected_version(),
                                        provider_state=_state(provider)))


@blueprint.delete(f"{PROVIDER_PATH}/overrides/<string:day>")
@requires(Role.ADMIN, Role.PROVIDER)
@conflicts(ProviderInactive)
@blueprint.response(200, AckSchema)
def remove_override(provider_id: uuid.UUID, day: str) -> ResponseReturnValue:
    """Remove a date override (404 if there is none); emits schedule.override_removed."""
    provider = _provider_for_change(provider_id)
    return send_command(RemoveDateOverride(provider_id=provider_id, day=_date(day),
                                           provider_state=_state(provider)))


@blueprint.post(f"{PROVIDER_PATH}/leave-requests")
@requires(Role.ADMIN, Role.PROVIDER)
@conflicts(ProviderInactive)
@blueprint.arguments(schemas.LeaveRequestBody)
@blueprint.response(201, AckSchema)
def submit_leave_request(body: dict[str, Any], provider_id: uuid.UUID) -> ResponseReturnValue:
    """Submit Leave Request `[start, end)`: 201, status pending; emits leave.requested."""
    provider = _provider_for_change(provider_id)
    return send_command(SubmitLeaveRequest(provider_id=provider_id, **body,
                                           provider_state=_state(provider)), created=True,
                        location=lambda ack: url_for("schedule.get_leave_request",
                                                     leave_id=ack.id))


@blueprint.post("/leave-requests/<uuid:leave_id>/approve")
@requires(Role.ADMIN)
@conflicts(IllegalTransition)
@if_match
@blueprint.response(200, AckSchema)
def approve_leave_request(leave_id: uuid.UUID) -> ResponseReturnValue:
    """Approve a pending request (admin); emits leave.approved.

    The appointment module cancels the booked appointments the leave overlaps (reason
    `provider_unavailable`) when it receives the event, asynchronously; View Schedule
    or View Appointments show which.
    """
    return send_command(ApproveLeaveRequest(leave_id=leave_id,
                                            expected_version=expected_version()))


@blueprint.post("/leave-requests/<uuid:leave_id>/reject")
@requires(Role.ADMIN)
@conflicts(IllegalTransition)
@if_match
@blueprint.response(200, AckSchema)
def reject_leave_request(leave_id: uuid.UUID) -> ResponseReturnValue:
    """Reject a pending request (admin); emits leave.rejected."""
    return send_command(RejectLeaveRequest(leave_id=leave_id,
                                           expected_version=expected_version()))


@blueprint.post("/leave-requests/<uuid:leave_id>/cancel")
@requires(Role.ADMIN, Role.PROVIDER)
@conflicts(IllegalTransition)
@if_match
@blueprint.response(200, AckSchema)
def cancel_leave_request(leave_id: uuid.UUID) -> ResponseReturnValue:
    """Cancel: the provider's own key while pending, an admin while pending or approved.

    Emits leave.cancelled; a rejected or cancelled request is 409 illegal-transition.
    """
    return send_command(CancelLeaveRequest(leave_id=leave_id,
                                           expected_version=expected_version()))


@blueprint.get("/leave-requests")
@requires(*TENANT_ROLES)
@blueprint.arguments(schemas.LeaveListArgs, location="query")
@blueprint.response(200, schemas.LeavePageSchema)
def list_leave_requests(args: dict[str, Any]) -> ResponseReturnValue:
    """Leave requests in submission order, filtered; a provider key sees only its own."""
    principal = current_principal()
    provider_id = args["provider_id"]
    if principal.role == Role.PROVIDER:
        if provider_id not in (None, principal.provider_id):
            return {"items": [], "next_cursor": None}
        provider_id = principal.provider_id
    status = LeaveStatus(args["status"]) if args["status"] else None
    rows = ask(ListLeaveRequests(
        limit=args["limit"], after=timestamp_id_cursor(args["cursor"]),
        provider_id=provider_id, status=status))
    return page_response(rows, args["limit"], lambda view: (view.created_at, view.id))


@blueprint.get("/leave-requests/<uuid:leave_id>")
@requires(*TENANT_ROLES)
@blueprint.response(200, schemas.LeaveRequestSchema)
@conditional
def get_leave_request(leave_id: uuid.UUID) -> ResponseReturnValue:
    """One leave request, with its ETag."""
    principal = current_principal()
    own = principal.provider_id if principal.role == Role.PROVIDER else None
    return single(ask(GetLeaveRequest(leave_id=leave_id, provider_id=own)), "leave request")


@blueprint.get(f"{PROVIDER_PATH}/schedule")
@requires(*TENANT_ROLES)
@blueprint.arguments(schemas.ScheduleArgs, location="query")
@blueprint.response(200, schemas.ScheduleSchema)
def view_schedule(args: dict[str, Any], provider_id: uuid.UUID) -> ResponseReturnValue:
    """View Schedule over `[from, to)` (at most 31 days), in time order.

    Items are `working` periods (weekly rules, overrides winning on their dates),
    approved `leave` and active `appointment`s (booked, checked_in, completed; with
    `appointment_id` and `status`), in UTC with `local_start`/`local_end` at the
    provider's offset. Leave and appointments are listed beside the working periods they
    overlap, not cut out of them.
    """
    _own_provider_only(provider_id)
    with one_snapshot():
        provider = _provider(provider_id)
        busy = ask(BusyPeriods(provider_ids=(provider_id,), start=args["start"],
                               end=args["end"]))
        return ask(ViewSchedule(
            provider_id=provider_id, start=args["start"], end=args["end"],
            default_timezone=provider.timezone,
            appointments=tuple(BookedPeriod(b.appointment_id, b.start, b.end, b.status)
                               for b in busy)))


@blueprint.get("/availability")
@requires(*TENANT_ROLES)
@blueprint.arguments(schemas.AvailabilityArgs, location="query")
@blueprint.response(200, schemas.AvailabilitySchema)
def availability(args: dict[str, Any]) -> ResponseReturnValue:
    """Get Available Slots: free start times per provider in `[from, to)` (at most 31 days).

    A slot of `duration` minutes starts on the `step` grid aligned to the provider's
    local hour, lies inside working hours (date overrides win), outside approved leave
    and active appointments, and inside the window; none starts before `not_before`
    (now plus the clinic's minimum notice). Providers: `provider_id` repeated (unknown
    ones are 422; deactivated ones answer no slots), or every active provider of a
    `specialty` (with `provider_id` too: those of them that have the specialty). A
    provider key may ask about its own provider only (403). The same few SQL
    statements answer one provider or a hundred, one day or 31.
    """
    start, end = args["start"], args["end"]
    with one_snapshot():
        providers = _providers_asked(args)
        busy_by_provider = _busy_by_provider(providers, start, end)
        facts = tuple(ProviderFacts(p.id, p.timezone, busy_by_provider[p.id], active=p.active)
                      for p in providers)
        return ask(GetAvailability(
            providers=facts, start=start, end=end, duration=timedelta(minutes=args["duration"]),
            step=timedelta(minutes=args["step"]), not_before=_earliest_start(start)))


def _providers_asked(args: dict[str, Any]) -> list[ProviderView]:
    ids = tuple(dict.fromkeys(args["provider_ids"])) or None
    found = ask(FindProviders(ids=ids, specialty=args["specialty"],
                               active_only=ids is None))
    if ids is not None:
        known = {p.id for p in found}
        if args["specialty"] is None and len(known) < len(ids):
            missing = [str(i) for i in ids if i not in known]
            raise InvalidCommand("Some provider_id values refer to nothing in this tenant.",
                                 errors={"provider_id": [f"No such provider: {m}"
                                                         for m in missing]})
        found.sort(key=lambda p: ids.index(p.id))
    principal = current_principal()
    if principal.role == Role.PROVIDER and any(p.id != principal.provider_id for p in found):
        raise PermissionDenied("A provider key may ask about its own provider only.")
    return found


def _busy_by_provider(providers: list[ProviderView], start: datetime,
                      end: datetime) -> dict[uuid.UUID, tuple[tuple[datetime, datetime], ...]]:
    ids = tuple(p.id for p in providers if p.active)
    busy = ask(BusyTimes(provider_ids=ids, start=start, end=end)) if ids else {}
    return {p.id: tuple(busy.get(p.id, ())) for p in providers}


def _earliest_start(window_start: datetime) -> datetime:
    settings = ask(GetTenantSettings())
    notice = timedelta(minutes=settings.min_notice_minutes)
    return max(datetime.now(UTC) + notice, window_start)


def _own_provider_only(provider_id: uuid.UUID) -> None:
    principal = current_principal()
    if principal.role == Role.PROVIDER and principal.provider_id != provider_id:
        raise PermissionDenied("A provider key acts on its own provider's schedule only.")


def _provider(provider_id: uuid.UUID) -> ProviderView:
    # Asked here, not in a handler: a handler touches its own domain's tables only.
    provider = ask(GetProvider(provider_id=provider_id))
    if provider is None:
        raise NotFound("No such provider.")
    return provider


def _provider_for_change(provider_id: uuid.UUID) -> ProviderView | None:
    # The provider domain's answer, for the command's handler to judge (it refuses an
    # unknown or deactivated provider; a refusal there is audited and kept for the key).
    _own_provider_only(provider_id)
    provider: ProviderView | None = ask(GetProvider(provider_id=provider_id))
    return provider


def _state(provider: ProviderView | None) -> ProviderState:
    if provider is None:
        return ProviderState.UNKNOWN
    return ProviderState.ACTIVE if provider.active else ProviderState.INACTIVE


def _date(text: str) -> date:
    # The contract's dates are YYYY-MM-DD only, in the range every date field accepts
    # (year 1 or 9999 would overflow the local-day arithmetic: a 500, not a 422).
    day = strict_date(text)
    if day is None:
        raise InvalidCommand("The date in the path is not YYYY-MM-DD.",
                             errors={"date": ["Not a date; write YYYY-MM-DD."]})
    try:
        date_in_range(day)
    except ValidationError as error:
        raise InvalidCommand("The date in the path is out of range.",
                             errors={"date": [str(m) for m in error.messages]}) from None
    return day
