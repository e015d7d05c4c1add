"""Command handlers of the schedule domain: working hours, date overrides, leave."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func
from sqlalchemy.dialects.postgresql import insert

from vitalbridge.messaging.errors import (
    DomainError,
    InvalidCommand,
    NotFound,
    PermissionDenied,
    require_version,
)
from vitalbridge.messaging.messages import Ack, Principal, Role
from vitalbridge.messaging.uow import UnitOfWork
from vitalbridge.schedule.calendar import validate_intervals, validate_rules
from vitalbridge.schedule.messages import (
    ApproveLeaveRequest,
    CancelLeaveRequest,
    DateOverrideRemoved,
    DateOverrideSet,
    LeaveApproved,
    LeaveCancelled,
    LeaveRejected,
    LeaveRequested,
    LeaveStatus,
    ProviderState,
    RejectLeaveRequest,
    RemoveDateOverride,
    SetDateOverride,
    SetWorkingHours,
    SubmitLeaveRequest,
    WorkingHoursSet,
    interval_json,
    rule_json,
)
from vitalbridge.schedule.model import (
    FROM_THE_BEGINNING,
    LeaveRequest,
    ScheduleOverride,
    WorkingHours,
    WorkingHoursVersion,
)


class IllegalTransition(DomainError):
    """The leave request's status does not allow this step."""

    type = "illegal-transition"
    title = "Illegal status transition"


class ProviderInactive(DomainError):
    """A deactivated provider's schedule no longer changes."""

    type = "provider-inactive"
    title = "Provider inactive"


def _require_writable(state: ProviderState) -> None:
    """Refuse a schedule change of a provider that does not exist or was deactivated."""
    if state == ProviderState.UNKNOWN:
        raise NotFound("No such provider.")
    if state == ProviderState.INACTIVE:
        raise ProviderInactive("The provider is deactivated; its schedule no longer changes.")


def set_working_hours(cmd: SetWorkingHours, uow: UnitOfWork) -> Ack:
    """Store a version of the weekly rules from its start date on (head version +1 each time).

    It replaces the versions starting on or after that date; earlier ones keep their
    dates. Without ``effective_from`` it starts today in the rules' zone, so past dates
    keep the hours they had, or at the beginning when the provider had no hours yet.
    """
    _require_writable(cmd.provider_state)
    _refuse_invalid(validate_rules(list(cmd.rules)))
    tenant_id = uow.acting_tenant
    key = {"tenant_id": tenant_id, "provider_id": cmd.provider_id}
    current = uow.session.get(WorkingHours, tuple(key.values()), with_for_update=True)
    require_version("working hours", _version(current), cmd.expected_version)
    start = _version_start(cmd, first=current is None)
    # The head first: its row lock orders concurrent writers of this provider's versions.
    version = _upsert(uow, WorkingHours, key, {})
    rules = [rule_json(rule) for rule in sorted(cmd.rules, key=lambda r: (r.weekday, r.start))]
    uow.session.execute(delete(WorkingHoursVersion).where(
        WorkingHoursVersion.tenant_id == tenant_id,
        WorkingHoursVersion.provider_id == cmd.provider_id,
        WorkingHoursVersion.effective_from >= start))
    uow.session.execute(insert(WorkingHoursVersion).values(
        **key, effective_from=start, timezone=cmd.timezone, rules=rules))
    effective_from = None if start == FROM_THE_BEGINNING else start
    uow.emit(WorkingHoursSet(tenant_id=tenant_id, aggregate_id=cmd.provider_id,
                             timezone=cmd.timezone, effective_from=effective_from,
                             rules=tuple(rules)))
    return Ack(id=cmd.provider_id, version=version)


def _version_start(cmd: SetWorkingHours, *, first: bool) -> date:
    """The first local date a new version governs."""
    if cmd.effective_from is not None:
        return cmd.effective_from
    if first:
        return FROM_THE_BEGINNING
    return datetime.now(ZoneInfo(cmd.timezone)).date()


def set_date_override(cmd: SetDateOverride, uow: UnitOfWork) -> Ack:
    """Give one local date its own intervals (or close it); the id answered is the provider's."""
    _require_writable(cmd.provider_state)
    _refuse_invalid(validate_intervals(list(cmd.intervals)))
    tenant_id = uow.acting_tenant
    key = {"tenant_id": tenant_id, "provider_id": cmd.provider_id, "day": cmd.day}
    current = uow.session.get(ScheduleOverride, tuple(key.values()), with_for_update=True)
    require_version("override", _version(current), cmd.expected_version)
    intervals = [interval_json(start, end) for start, end in sorted(cmd.intervals)]
    closed = not intervals
    version = _upsert(uow, ScheduleOverride, key, {"intervals": intervals, "closed": closed})
    uow.emit(DateOverrideSet(tenant_id=tenant_id, aggregate_id=cmd.provider_id, day=cmd.day,
                             closed=closed, intervals=tuple(intervals)))
    return Ack(id=cmd.provider_id, version=version)


def remove_date_override(cmd: RemoveDateOverride, uow: UnitOfWork) -> Ack:
    """Let a date follow the weekly rules again; 404 when it had no override."""
    _require_writable(cmd.provider_state)
    tenant_id = uow.acting_tenant
    removed = uow.session.scalar(delete(ScheduleOverride).where(
        ScheduleOverride.tenant_id == tenant_id, ScheduleOverride.provider_id == cmd.provider_id,
        ScheduleOverride.day == cmd.day).returning(ScheduleOverride.version))
    if removed is None:
        raise NotFound(f"No override on {cmd.day.isoformat()}.")
    uow.emit(DateOverrideRemoved(tenant_id=tenant_id, aggregate_id=cmd.provider_id,
                                 day=cmd.day))
    return Ack(id=cmd.provider_id, version=removed + 1, status="removed")


def submit_leave_request(cmd: SubmitLeaveRequest, uow: UnitOfWork) -> Ack:
    """Record a pending leave request; a provider key asks only for its own provider."""
    tenant_id = uow.acting_tenant
    principal = uow.context.principal
    if principal.role == Role.PROVIDER and principal.provider_id != cmd.provider_id:
        raise PermissionDenied("A provider key may ask leave for its own provider only.")
    _require_writable(cmd.provider_state)
    leave_id = uuid.uuid4()
    uow.session.add(LeaveRequest(
        tenant_id=tenant_id, id=leave_id, provider_id=cmd.provider_id, starts_at=cmd.start,
        ends_at=cmd.end, reason=cmd.reason, status=LeaveStatus.PENDING.value,
        requested_by_key_id=principal.key_id))
    uow.emit(LeaveRequested(tenant_id=tenant_id, aggregate_id=leave_id,
                            provider_id=cmd.provider_id, start=cmd.start, end=cmd.end,
                            reason=cmd.reason))
    return Ack(id=leave_id, version=1, status=LeaveStatus.PENDING.value)


LeaveDecision = ApproveLeaveRequest | RejectLeaveRequest | CancelLeaveRequest

# Per decision: the statuses it may start from, and where it leads.
_TRANSITIONS: dict[type[Any], tuple[frozenset[LeaveStatus], LeaveStatus]] = {
    ApproveLeaveRequest: (frozenset({LeaveStatus.PENDING}), LeaveStatus.APPROVED),
    RejectLeaveRequest: (frozenset({LeaveStatus.PENDING}), LeaveStatus.REJECTED),
    CancelLeaveRequest: (frozenset({LeaveStatus.PENDING, LeaveStatus.APPROVED}),
                         LeaveStatus.CANCELLED),
}


def decide_leave_request(cmd: LeaveDecision, uow: UnitOfWork) -> Ack:
    """Approve, reject or cancel a leave request, if its status allows that step."""
    principal = uow.context.principal
    leave = uow.session.get(LeaveRequest, (uow.acting_tenant, cmd.leave_id),
                            with_for_update=True)
    # Provider keys see only their own provider's requests; others' do not exist for them.
    if leave is None or (principal.role == Role.PROVIDER
                         and leave.provider_id != principal.provider_id):
        raise NotFound("No such leave request.")
    require_version("leave request", leave.version, cmd.expected_version)
    sources, target = _TRANSITIONS[type(cmd)]
    if LeaveStatus(leave.status) not in sources:
        raise IllegalTransition(
            f"A {leave.status} leave request cannot become {target.value}.",
            current_status=leave.status)
    _refuse_provider_after_decision(principal, leave)
    was = leave.status
    leave.status = target.value
    leave.decided_by_key_id = principal.key_id
    _bump(leave)
    uow.emit(_decision_event(leave, target, was))
    return Ack(id=leave.id, version=leave.version, status=target.value)


def _refuse_provider_after_decision(principal: Principal, leave: LeaveRequest) -> None:
    # Once approved, withdrawing leave reopens booked time: that is an admin's call.
    if principal.role == Role.PROVIDER and leave.status != LeaveStatus.PENDING:
        raise PermissionDenied("A provider key may cancel a leave request only while it is "
                               "pending; ask an admin.")


def _decision_event(leave: LeaveRequest, target: LeaveStatus,
                    was: str) -> LeaveApproved | LeaveRejected | LeaveCancelled:
    common: dict[str, Any] = {"tenant_id": leave.tenant_id, "aggregate_id": leave.id,
              "provider_id": leave.provider_id, "start": leave.starts_at, "end": leave.ends_at}
    if target == LeaveStatus.APPROVED:
        return LeaveApproved(**common)
    if target == LeaveStatus.REJECTED:
        return LeaveRejected(**common)
    return LeaveCancelled(**common, was=was)


def _refuse_invalid(errors: dict[str, list[str]]) -> None:
    # "rules[2]" -> "rules.2": the same field paths as the schema's own 422s.
    if errors:
        raise InvalidCommand("One or more intervals are invalid.", errors={
            re.sub(r"\[(\d+)\]", r".\1", key): messages for key, messages in errors.items()})


def _upsert(uow: UnitOfWork, table: Any, key: dict[str, Any], values: dict[str, Any]) -> int:
    # ON CONFLICT: two first-time writes of the same key cannot both insert; the later
    # one becomes the next version instead of a primary-key violation.
    stmt = insert(table).values(**key, **values)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(key), set_={**values, "version": table.version + 1,
                                        "updated_at": func.now()})
    return int(uow.session.scalar(stmt.returning(table.version)))


def _bump(row: LeaveRequest) -> None:
    row.version += 1
    row.updated_at = func.now()



def _version(row: Any) -> int:
    # Nothing set yet counts as version 0, so "If-Match: 0" guards a first write.
    return row.version if row is not None else 0


COMMAND_HANDLERS = {
    SetWorkingHours: set_working_hours,
    SetDateOverride: set_date_override,
    RemoveDateOverride: remove_date_override,
    SubmitLeaveRequest: submit_leave_request,
    ApproveLeaveRequest: decide_leave_request,
    RejectLeaveRequest: decide_leave_request,
    CancelLeaveRequest: decide_leave_request,
}
