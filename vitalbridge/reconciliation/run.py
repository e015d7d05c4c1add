"""A reconciliation run: every check of one tenant (or all), recorded, counted, logged,
and repaired when asked.

What a run finds is recorded through the module's command, which announces each new
discrepancy once (``reconciliation.discrepancy_found``); the gauge tells how many each
check found in the last run; the log names them by ids only.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter as Tally
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from prometheus_client import Gauge

from config.settings import Settings
from vitalbridge.messaging.messages import Principal
from vitalbridge.messaging.reconcile import ReadModelCheck
from vitalbridge.messaging.uow import CommandContext
from vitalbridge.reconciliation.checks import (
    Asker,
    Thresholds,
    appointments_in_approved_leave,
    deactivated_provider_leftovers,
    delivery_problems,
)
from vitalbridge.reconciliation.messages import (
    INVARIANT_CHECKS,
    READ_MODEL_CHECK_PREFIX,
    Discrepancy,
    RecordDiscrepancies,
    RecordedRun,
)
from vitalbridge.reconciliation.repair import Repair, repair_all
from vitalbridge.services import Services

log = logging.getLogger(__name__)

DISCREPANCIES = Gauge("vitalbridge_reconciliation_discrepancies",
                      "Discrepancies the last reconciliation run found, per check.", ["check"],
                      multiprocess_mode="livemax")


@dataclass(frozen=True)
class Options:
    """How a run goes: repair or only report, every row or a sample, the thresholds."""

    thresholds: Thresholds
    settle_seconds: float
    repair: bool = False
    sample: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, repair: bool = False,
                      sample: int | None = None) -> Options:
        """The thresholds and settling time the settings give."""
        return cls(thresholds=Thresholds(
            stuck_delivery=timedelta(minutes=settings.reconcile_stuck_delivery_minutes),
            undelivered_event=timedelta(minutes=settings.reconcile_undelivered_minutes)),
            settle_seconds=settings.reconcile_settle_seconds, repair=repair, sample=sample)


@dataclass(frozen=True)
class TenantRun:
    """One tenant's findings, what recording them did, and the repairs."""

    tenant_id: uuid.UUID
    found: list[Discrepancy]
    recorded: RecordedRun
    repairs: list[Repair]

    @property
    def unrepaired(self) -> list[Discrepancy]:
        """What is still wrong after the run."""
        if not self.repairs:
            return list(self.found)
        return [r.discrepancy for r in self.repairs if r.failure is not None]


def check_names(svc: Services) -> list[str]:
    """Every check a run makes: the invariants, then each read model."""
    return [*INVARIANT_CHECKS, *(READ_MODEL_CHECK_PREFIX + m.name for m in svc.read_models)]


def reconcile_tenant(svc: Services, tenant_id: uuid.UUID, options: Options,
                     now: datetime) -> TenantRun:
    """Run every check in one tenant, record the findings, repair if asked."""
    ask = Asker(svc.queries, tenant_id)
    found = [*appointments_in_approved_leave(ask), *deactivated_provider_leftovers(ask, now),
             *delivery_problems(ask, options.thresholds),
             *_read_model_drift(svc, tenant_id, options)]
    complete = INVARIANT_CHECKS if options.sample else tuple(check_names(svc))
    context = CommandContext(principal=Principal.system(tenant_id), request_id="reconcile")
    ack = svc.commands.dispatch(RecordDiscrepancies(found=tuple(found),
                                                    complete_checks=tuple(complete)), context)
    for d in found:
        log.warning("reconciliation discrepancy", extra={
            "tenant_id": str(tenant_id), "check": d.check, "subject_type": d.subject_type,
            "subject_id": d.subject_id})
    repairs = repair_all(svc, tenant_id, found, options.settle_seconds) if options.repair else []
    return TenantRun(tenant_id, found, RecordedRun.of(dict(ack.extra)), repairs)


def _read_model_drift(svc: Services, tenant_id: uuid.UUID,
                      options: Options) -> list[Discrepancy]:
    found = []
    for model in svc.read_models:
        check = ReadModelCheck(svc.db, svc.queries, model, tenant_id, options.settle_seconds)
        found += [Discrepancy(READ_MODEL_CHECK_PREFIX + model.name, model.name, drift.key,
                              drift.detail) for drift in check.drift(options.sample)]
    return found


def count(svc: Services, runs: Iterable[TenantRun]) -> dict[str, int]:
    """Set each check's gauge to what the runs found; the counts."""
    tally = Tally(d.check for run in runs for d in run.found)
    counts = {check: tally.get(check, 0) for check in check_names(svc)}
    for check, found in counts.items():
        DISCREPANCIES.labels(check).set(found)
    return counts

