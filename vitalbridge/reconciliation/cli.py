"""``flask reconcile``: find what eventual consistency broke, and repair it when asked;
the same run is the scheduler's daily ``reconcile`` job (report only)."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

import click
from flask import current_app
from flask.cli import with_appcontext

from vitalbridge.cli_support import chosen_tenants, every_tenant
from vitalbridge.reconciliation.run import Options, TenantRun, count, reconcile_tenant
from vitalbridge.services import services
from vitalbridge.tenant.messages import TenantView

log = logging.getLogger(__name__)


def reconcile_every_tenant() -> int:
    """The daily job: every check in every tenant, reported (never repaired: that is an
    operator's decision); the number of discrepancies found."""
    svc = services()
    options = Options.from_settings(svc.settings)
    now = datetime.now(UTC)
    runs = [reconcile_tenant(svc, tenant.id, options, now)
            for tenant in every_tenant(svc.queries)]
    found = sum(count(svc, runs).values())
    log.info("reconciled", extra={"tenants": len(runs), "discrepancies": found})
    return found


@click.command("reconcile")
@with_appcontext
@click.option("--tenant", "tenant_slug", help="Only the tenant with this slug.")
@click.option("--repair", is_flag=True,
              help="Put each discrepancy right (read-model rows recomputed, missed "
                   "reactions re-sent through their commands).")
@click.option("--sample", type=click.IntRange(min=1),
              help="Compare only N random rows of each read model (a quick pass).")
def reconcile(tenant_slug: str | None, repair: bool, sample: int | None) -> None:
    """Check the read models and the cross-domain invariants; exit 1 while any
    discrepancy remains (found and not repaired)."""
    svc = services()
    options = Options.from_settings(current_app.config["SETTINGS"], repair=repair,
                                    sample=sample)
    now = datetime.now(UTC)
    runs = []
    for tenant in chosen_tenants(tenant_slug):
        run = reconcile_tenant(svc, tenant.id, options, now)
        _print(tenant, run)
        runs.append(run)
    count(svc, runs)
    left = sum(len(run.unrepaired) for run in runs)
    click.echo(f"{len(runs)} tenant(s): {sum(len(r.found) for r in runs)} discrepancies "
               f"found, {left} remaining")
    if left:
        sys.exit(1)


def _print(tenant: TenantView, run: TenantRun) -> None:
    outcome = {(r.discrepancy.check, r.discrepancy.subject_id): r.failure or "repaired"
               for r in run.repairs}
    for d in run.found:
        done = outcome.get((d.check, d.subject_id))
        suffix = f"  [{done}]" if done else ""
        click.echo(f"{tenant.slug}: {d.check} {d.subject_type} {d.subject_id}: "
                   f"{d.detail}{suffix}")
    recorded = run.recorded
    click.echo(f"{tenant.slug}: {len(run.found)} found ({recorded.new} new, "
               f"{recorded.still_open} already open), {recorded.resolved} resolved since "
               "the last run")
