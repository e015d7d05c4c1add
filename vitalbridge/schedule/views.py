"""HTTP endpoints of the schedule domain: parse, send a message, answer.

Provider keys act on their own provider only: another provider's working hours,
overrides, schedule or new leave are 403 for them, another provider's leave requests
do not exist for them (404, and absent from lists).
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from flask import url_for
from flask.typing import ResponseReturnValue
from flask_smorest import Blueprint

from vitalbridge.http.auth import TENANT_ROLES, current_principal, requires
from vitalbridge.http.commands import expected_version, send_command
from vitalbridge.http.pagination import page_response, timestamp_id_cursor
from vitalbridge.http.render import single
from vitalbridge.http.schemas import AckSchema
from vitalbridge.messaging.errors import DomainError, InvalidCommand, NotFound, PermissionDenied
from vitalbridge.messaging.messages import Role
from vitalbridge.provider.messages import GetProvider, ProviderView
from vitalbridge.schedule import schemas
from vitalbridge.schedule.calendar import WeeklyRule
from vitalbridge.schedule.messages import (
    ApproveLeaveRequest,
    CancelLeaveRequest,
    GetLeaveRequest,
    GetWorkingHours,
    LeaveStatus,
    ListLeaveRequests,
    RejectLeaveRequest,
    RemoveDateOverride,
    SetDateOverride,
    SetWorkingHours,
    SubmitLeaveRequest,
    ViewSchedule,
)
from vitalbridge.services import services

blueprint = Blueprint("schedule", __name__, url_prefix="/api/v1",
                      description="Schedules: working hours, date overrides, leave requests.")

PROVIDER_PATH = "/providers/<uuid:provider_id>"


class ProviderInactive(DomainError):
    """A deactivated provider's schedule no longer changes."""

    type = "provider-inactive"
    title = "Provider inactive"


@blueprint.put(f"{PROVIDER_PATH}/working-hours")
@requires(Role.ADMIN, Role.PROVIDER)
@blueprint.arguments(schemas.WorkingHoursBody)
@blueprint.response(200, AckSchema)
def set_working_hours(body: dict[str, Any], provider_id: uuid.UUID) -> ResponseReturnValue:
    """Set Working Hours: replaces every weekly rule; emits schedule.working_hours_set.

    Times are local to `timezone` (the provider's when omitted). Overlapping or inverted
    intervals of a weekday are 422 naming each rule (`rules.N`). If-Match optional.
    """
    provider = _writable_provider(provider_id)
    rules = tuple(WeeklyRule(r["weekday"], r["start"], r["end"]) for r in body["rules"])
    return send_command(SetWorkingHours(
        provider_id=provider_id, timezone=body["timezone"] or provider.timezone, rules=rules,
        effective_from=body["effective_from"], expected_version=expected_version()))


@blueprint.get(f"{PROVIDER_PATH}/working-hours")
@requires(*TENANT_ROLES)
@blueprint.response(200, schemas.WorkingHoursSchema)
def get_working_hours(provider_id: uuid.UUID) -> ResponseReturnValue:
    """A provider's weekly working hours (404 when never set)."""
    _own_provider_only(provider_id)
    return single(services().queries.ask(GetWorkingHours(provider_id=provider_id),
                                         current_principal()), "working hours")


@blueprint.put(f"{PROVIDER_PATH}/overrides/<string:day>")
@requires(Role.ADMIN, Role.PROVIDER)
@blueprint.arguments(schemas.OverrideBody)
@blueprint.response(200, AckSchema)
def set_override(body: dict[str, Any], provider_id: uuid.UUID, day: str) -> ResponseReturnValue:
    """Set a date override: the local date gets its own `intervals`, or `closed: true`.

    Emits schedule.override_set; answers the provider id and the override's version.
    """
    _writable_provider(provider_id)
    intervals = tuple((i["start"], i["end"]) for i in body.get("intervals", ()))
    return send_command(SetDateOverride(provider_id=provider_id, day=_date(day),
                                        intervals=intervals,
                                        expected_version=expected_version()))


@blueprint.delete(f"{PROVIDER_PATH}/overrides/<string:day>")
@requires(Role.ADMIN, Role.PROVIDER)
@blueprint.response(200, AckSchema)
def remove_override(provider_id: uuid.UUID, day: str) -> ResponseReturnValue:
    """Remove a date override (404 if there is none); emits schedule.override_removed."""
    _own_provider_only(provider_id)
    return send_command(RemoveDateOverride(provider_id=provider_id, day=_date(day)))


@blueprint.post(f"{PROVIDER_PATH}/leave-requests")
@requires(Role.ADMIN, Role.PROVIDER)
@blueprint.arguments(schemas.LeaveRequestBody)
@blueprint.response(201, AckSchema)
def submit_leave_request(body: dict[str, Any], provider_id: uuid.UUID) -> ResponseReturnValue:
    """Submit Leave Request `[start, end)`: 201, status pending; emits leave.requested."""
    _writable_provider(provider_id)
    return send_command(SubmitLeaveRequest(provider_id=provider_id, **body), created=True,
                        location=lambda ack: url_for("schedule.get_leave_request",
                                                     leave_id=ack.id))


@blueprint.post("/leave-requests/<uuid:leave_id>/approve")
@requires(Role.ADMIN)
@blueprint.response(200, AckSchema)
def approve_leave_request(leave_id: uuid.UUID) -> ResponseReturnValue:
    """Approve a pending request (admin); emits leave.approved.

    The appointment module cancels the booked appointments it overlaps when it receives
    the event (not yet built: the answer carries no overlapping-appointment count).
    """
    return send_command(ApproveLeaveRequest(leave_id=leave_id,
                                            expected_version=expected_version()))


@blueprint.post("/leave-requests/<uuid:leave_id>/reject")
@requires(Role.ADMIN)
@blueprint.response(200, AckSchema)
def reject_leave_request(leave_id: uuid.UUID) -> ResponseReturnValue:
    """Reject a pending request (admin); emits leave.rejected."""
    return send_command(RejectLeaveRequest(leave_id=leave_id,
                                           expected_version=expected_version()))


@blueprint.post("/leave-requests/<uuid:leave_id>/cancel")
@requires(Role.ADMIN, Role.PROVIDER)
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
    rows = services().queries.ask(ListLeaveRequests(
        limit=args["limit"], after=timestamp_id_cursor(args["cursor"]),
        provider_id=provider_id, status=status), principal)
    return page_response(rows, args["limit"], lambda view: (view.created_at, view.id))


@blueprint.get("/leave-requests/<uuid:leave_id>")
@requires(*TENANT_ROLES)
@blueprint.response(200, schemas.LeaveRequestSchema)
def get_leave_request(leave_id: uuid.UUID) -> ResponseReturnValue:
    """One leave request, with its ETag."""
    principal = current_principal()
    own = principal.provider_id if principal.role == Role.PROVIDER else None
    return single(services().queries.ask(GetLeaveRequest(leave_id=leave_id, provider_id=own),
                                         principal), "leave request")


@blueprint.get(f"{PROVIDER_PATH}/schedule")
@requires(*TENANT_ROLES)
@blueprint.arguments(schemas.ScheduleArgs, location="query")
@blueprint.response(200, schemas.ScheduleSchema)
def view_schedule(args: dict[str, Any], provider_id: uuid.UUID) -> ResponseReturnValue:
    """View Schedule over `[from, to)` (at most 31 days), in time order.

    Items are `working` periods (weekly rules, overrides winning on their dates) and
    approved `leave`, in UTC with `local_start`/`local_end` at the provider's offset.
    Leave is listed beside the working periods it overlaps, not cut out of them. The
    provider's appointments will be merged in by the appointments issue.
    """
    _own_provider_only(provider_id)
    provider = _provider(provider_id)
    return services().queries.ask(ViewSchedule(
        provider_id=provider_id, start=args["start"], end=args["end"],
        default_timezone=provider.timezone), current_principal())


def _own_provider_only(provider_id: uuid.UUID) -> None:
    principal = current_principal()
    if principal.role == Role.PROVIDER and principal.provider_id != provider_id:
        raise PermissionDenied("A provider key acts on its own provider's schedule only.")


def _provider(provider_id: uuid.UUID) -> ProviderView:
    # Asked here, not in a handler: a handler touches its own domain's tables only.
    provider = services().queries.ask(GetProvider(provider_id=provider_id), current_principal())
    if provider is None:
        raise NotFound("No such provider.")
    return provider


def _writable_provider(provider_id: uuid.UUID) -> ProviderView:
    _own_provider_only(provider_id)
    provider = _provider(provider_id)
    if not provider.active:
        raise ProviderInactive("The provider is deactivated; its schedule no longer changes.")
    return provider


def _date(text: str) -> date:
    # fromisoformat also reads "20270315"; the contract's dates are YYYY-MM-DD only.
    if len(text) == 10:
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise InvalidCommand("The date in the path is not YYYY-MM-DD.",
                         errors={"date": ["Not a date; write YYYY-MM-DD."]})
