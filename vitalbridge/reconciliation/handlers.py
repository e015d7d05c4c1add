"""The reconciliation module's command handler: recording a run's findings."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from vitalbridge.messaging.messages import Ack
from vitalbridge.messaging.uow import UnitOfWork
from vitalbridge.reconciliation.messages import (
    Discrepancy,
    DiscrepancyFound,
    RecordDiscrepancies,
    discrepancy_id,
)
from vitalbridge.reconciliation.model import DiscrepancyRecord

TABLE = DiscrepancyRecord.__tablename__

# Close what a full check no longer finds (the found ones travel as parallel arrays).
_RESOLVE = text(f"""
UPDATE {TABLE} d SET resolved_at = now()
 WHERE d.tenant_id = :tenant AND d.resolved_at IS NULL
   AND d.check_name = ANY(CAST(:complete AS text[]))
   AND NOT EXISTS (SELECT 1 FROM unnest(CAST(:checks AS text[]), CAST(:subjects AS text[]))
                          AS f(check_name, subject_id)
                    WHERE f.check_name = d.check_name AND f.subject_id = d.subject_id)
""")
# Open a row for each new finding; one already open only has its last sighting moved.
# xmax = 0 tells a row inserted now from one updated.
_OPEN = text(f"""
INSERT INTO {TABLE} AS d
       (tenant_id, id, check_name, subject_type, subject_id, detail)
SELECT :tenant, f.id, f.check_name, f.subject_type, f.subject_id, f.detail
  FROM unnest(CAST(:ids AS uuid[]), CAST(:checks AS text[]), CAST(:types AS text[]),
              CAST(:subjects AS text[]), CAST(:details AS text[]))
       AS f(id, check_name, subject_type, subject_id, detail)
ON CONFLICT (tenant_id, check_name, subject_id) WHERE resolved_at IS NULL
DO UPDATE SET last_found_at = now(), detail = EXCLUDED.detail
RETURNING d.id, d.check_name, d.subject_type, d.subject_id, d.detail, d.xmax = 0 AS new
""")


def record_discrepancies(cmd: RecordDiscrepancies, uow: UnitOfWork) -> Ack:
    """Close what is gone, open what is new (announcing it), touch what persists."""
    tenant_id = uow.acting_tenant
    found = list({(d.check, d.subject_id): d for d in cmd.found}.values())
    arrays = _arrays(found)
    resolved = uow.session.execute(_RESOLVE, {
        "tenant": tenant_id, "complete": list(cmd.complete_checks), **arrays,
    }).rowcount  # type: ignore[attr-defined]
    rows = uow.session.execute(_OPEN, {"tenant": tenant_id, **arrays}).all() if found else []
    new = [row for row in rows if row.new]
    for row in new:
        uow.emit(DiscrepancyFound(tenant_id=tenant_id, aggregate_id=row.id,
                                  check=row.check_name, subject_type=row.subject_type,
                                  subject_id=row.subject_id, detail=row.detail))
    return Ack(id=tenant_id, version=1, extra={
        "new": len(new), "still_open": len(rows) - len(new), "resolved": resolved})


def _arrays(found: list[Discrepancy]) -> dict[str, Any]:
    return {"ids": [discrepancy_id() for _ in found], "checks": [d.check for d in found],
            "types": [d.subject_type for d in found],
            "subjects": [d.subject_id for d in found], "details": [d.detail for d in found]}


COMMAND_HANDLERS = {RecordDiscrepancies: record_discrepancies}
