"""``flask metrics compute``: the clinic metrics now (the scheduler does it hourly)."""

from __future__ import annotations

import logging
import time

import click
from flask.cli import AppGroup

from vitalbridge.cli_support import chosen_tenants, every_tenant
from vitalbridge.reporting.metrics import compute_tenant
from vitalbridge.services import services

log = logging.getLogger(__name__)
metrics_cli = AppGroup("metrics", help="Clinic metrics (GET /api/v1/reports/metrics).")


def compute_clinic_metrics() -> int:
    """The hourly job: every tenant's metrics; the number of tenants computed."""
    svc = services()
    computed = 0
    for tenant in every_tenant(svc.queries):
        computed += compute_tenant(svc.db, svc.queries, tenant.id) is not None
    log.info("computed clinic metrics", extra={"tenants": computed})
    return computed


@metrics_cli.command("compute")
@click.option("--tenant", "tenant_slug", help="Only the tenant with this slug.")
def compute(tenant_slug: str | None) -> None:
    """Recompute the clinic metrics of every tenant (or one) now."""
    svc = services()
    for tenant in chosen_tenants(tenant_slug):
        began = time.monotonic()
        rows = compute_tenant(svc.db, svc.queries, tenant.id)
        if rows is None:
            click.echo(f"{tenant.slug}: skipped, its daily provider figures were never "
                       "built (flask read-models rebuild provider_days)")
            continue
        click.echo(f"{tenant.slug}: {rows} rows in {time.monotonic() - began:.2f}s")
