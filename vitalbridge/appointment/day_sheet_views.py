"""GET /api/v1/day-sheet: the front desk's and the clinician's list of one local day."""

from __future__ import annotations

from typing import Any

from flask.typing import ResponseReturnValue

from vitalbridge.appointment.day_sheet_schemas import DaySheetArgs, DaySheetPageSchema
from vitalbridge.appointment.messages import AppointmentStatus, DaySheetPage, GetDaySheet
from vitalbridge.appointment.read_models import DAY_SHEET, PATIENT_SUMMARIES
from vitalbridge.http.auth import TENANT_ROLES, current_principal, requires
from vitalbridge.http.blueprint import Blueprint
from vitalbridge.http.consistency import await_read_models
from vitalbridge.http.error_docs import read_model_answer
from vitalbridge.http.pagination import encode_cursor, timestamp_id_cursor
from vitalbridge.http.queries import ask
from vitalbridge.http.render import answer_etag
from vitalbridge.messaging.messages import Role

blueprint = Blueprint("day_sheet", __name__, url_prefix="/api/v1",
                      description="One local day's appointments, from the read models.")


@blueprint.get("/day-sheet")
@requires(*TENANT_ROLES)
@blueprint.arguments(DaySheetArgs, location="query")
@read_model_answer
@blueprint.response(200, DaySheetPageSchema)
def day_sheet(args: dict[str, Any]) -> ResponseReturnValue:
    """One local date's appointments in start order, each with its patient's summary.

    Every appointment of that date (any status; `status` narrows it) of the whole
    clinic, of the providers named by `provider_id` (repeatable) and/or of one
    `specialty`. The date is each provider's local date (the provider's time zone). A
    provider key sees its own appointments only. Each line's `patient` comes from the
    patient summaries: age, last visit, cancellations and no-shows of the last 12 months.
    Pages of `limit` lines (keyset over start and id); each page is one SQL statement.
    From the day sheet and patient summaries read models: `meta` says how fresh.
    """
    await_read_models([DAY_SHEET, PATIENT_SUMMARIES])
    page: DaySheetPage = ask(GetDaySheet(
        day=args["day"], provider_ids=_whose(args), specialty=args["specialty"],
        status=AppointmentStatus(args["status"]) if args["status"] else None,
        limit=args["limit"], after=timestamp_id_cursor(args["cursor"])))
    lines, more = page.lines[:args["limit"]], len(page.lines) > args["limit"]
    body = {"date": args["day"], "items": lines,
            "next_cursor": encode_cursor((lines[-1].start, lines[-1].id)) if more else None,
            "meta": page.freshness.to_json()}
    return body, 200, {"ETag": answer_etag(body)}


def _whose(args: dict[str, Any]) -> tuple[Any, ...]:
    principal = current_principal()
    if principal.role == Role.PROVIDER:  # its own appointments, whatever it names
        return (principal.provider_id,)
    return tuple(dict.fromkeys(args["provider_ids"]))
