"""GET /api/v1/reports/metrics: the clinic metrics the scheduler stored."""

from __future__ import annotations

from typing import Any

from flask.typing import ResponseReturnValue

from vitalbridge.http.auth import requires
from vitalbridge.http.blueprint import Blueprint
from vitalbridge.http.queries import ask
from vitalbridge.http.render import answer_etag
from vitalbridge.messaging.messages import Role
from vitalbridge.reporting.metrics_queries import ClinicMetrics
from vitalbridge.reporting.metrics_schemas import MetricsArgs, MetricsSchema

blueprint = Blueprint("metrics", __name__, url_prefix="/api/v1",
                      description="Clinic metrics, computed hourly by the scheduler.")


@blueprint.get("/reports/metrics")
@requires(Role.ADMIN)
@blueprint.arguments(MetricsArgs, location="query")
@blueprint.response(200, MetricsSchema)
def clinic_metrics(args: dict[str, Any]) -> ResponseReturnValue:
    """Clinic metrics per week or month, of one specialty or the whole clinic (admin).

    Stored by the scheduler's hourly `compute_clinic_metrics` job (or `flask metrics
    compute`), each row with its `computed_at`, for every whole week (Monday to Sunday)
    and month inside the dates the daily provider figures keep (REPORT_WINDOW_PAST_DAYS
    before today to REPORT_WINDOW_FUTURE_DAYS after). Dates are each provider's local
    dates. A period with no appointments and no working time has no row.

    - `appointments`: the period's appointments, any status; `cancellations`,
      `no_shows`: those now cancelled / no_show; `late_cancellations`: cancelled less
      than the clinic's `late_cancellation_hours` setting (default 24) before the start.
    - `working_minutes`, `booked_minutes`: as the utilization report counts them.
    - `median_lead_time_minutes`: from booking to (current) start.
    - `patients_seen`: patients with a checked-in or completed visit; `new_patients`:
      those whose first such visit (in the clinic, or in the specialty) is in the period.
    """
    items = ask(ClinicMetrics(granularity=args["granularity"], first=args["first"],
                              last=args["last"], specialty=args["specialty"]))
    body = {"granularity": args["granularity"], "specialty": args["specialty"],
            "items": items}
    return body, 200, {"ETag": answer_etag(body)}
