"""``flask read-models ...``: see how far behind the read models are, and rebuild them."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from vitalbridge.cli_support import chosen_tenants
from vitalbridge.http.render import utc_text
from vitalbridge.messaging.messages import Principal, to_json_value
from vitalbridge.messaging.read_models import ReadModel
from vitalbridge.messaging.rebuild import RebuildRunning, exclusive, rebuild_tenant
from vitalbridge.messaging.sync_status import SyncState, SyncStatus
from vitalbridge.services import services
from vitalbridge.tenant.messages import TenantView

read_models_cli = AppGroup("read-models", help="The read models behind the queries.")

_TENANT = click.option("--tenant", "tenant_slug", help="Only the tenant with this slug.")


@read_models_cli.command("status")
@_TENANT
@click.option("--json", "as_json", is_flag=True, help="One JSON object per tenant.")
def status(tenant_slug: str | None, as_json: bool) -> None:
    """Per tenant and read model: status, lag, backlog, last event, last rebuild."""
    models = services().read_models
    for tenant in chosen_tenants(tenant_slug):
        state: SyncState = services().queries.ask(SyncStatus(read_models=models),
                                                  Principal.system(tenant.id))
        if as_json:
            click.echo(json.dumps(to_json_value(_state_json(tenant, state))))
        else:
            _print_state(tenant, state)


def _state_json(tenant: TenantView, state: SyncState) -> dict[str, object]:
    return {"tenant": tenant.slug, **state.to_json()}


def _print_state(tenant: TenantView, state: SyncState) -> None:
    click.echo(f"tenant {tenant.slug}: relay backlog {state.relay_backlog}, "
               f"oldest {state.relay_oldest_seconds:g}s")
    for model in state.read_models:
        fresh, checkpoint = model.freshness, model.checkpoint
        last, rebuilt = checkpoint["last_event"], checkpoint["last_rebuild"]
        applied = utc_text(last["applied_at"]) if last else "-"
        rebuild = f"{utc_text(rebuilt['at'])} ({rebuilt['rows']} rows)" if rebuilt else "-"
        advice = ", never built: run flask read-models rebuild" \
            if checkpoint["needs_rebuild"] else ""
        click.echo(f"  {model.name}: {fresh.status}, lag {fresh.lag_seconds:g}s, backlog "
                   f"{model.backlog}, last applied {applied}, last rebuild {rebuild}{advice}")


@read_models_cli.command("rebuild")
@click.argument("name", required=False)
@_TENANT
@click.option("--all", "every", is_flag=True, help="Every read model.")
@click.option("--if-needed", "if_needed", is_flag=True,
              help="Only where it was never built (a migration added it).")
def rebuild(name: str | None, tenant_slug: str | None, every: bool, if_needed: bool) -> None:
    """Recompute read model NAME (or --all) from the command tables, without downtime.

    Answers keep coming from the old rows (meta status `rebuilding`) until one
    transaction swaps the new rows in; the relay goes on applying events meanwhile.
    """
    for model in _chosen(name, every):
        try:
            with exclusive(services().db, model):
                for tenant in chosen_tenants(tenant_slug):
                    if if_needed and not _needs_rebuild(model, tenant):
                        continue
                    report = rebuild_tenant(services().db, services().queries, model,
                                            tenant.id)
                    click.echo(f"{model.name} in {tenant.slug}: {report.rows} rows from "
                               f"{report.keys} keys ({report.late_keys} refreshed during "
                               f"the rebuild) in {report.seconds:g}s")
        except RebuildRunning as busy:
            raise click.ClickException(f"{busy}; try again when it has finished") from busy


def _needs_rebuild(model: ReadModel, tenant: TenantView) -> bool:
    state: SyncState = services().queries.ask(SyncStatus(read_models=(model,)),
                                              Principal.system(tenant.id))
    return bool(state.read_models[0].checkpoint["needs_rebuild"])


def _chosen(name: str | None, every: bool) -> list[ReadModel]:
    models = services().read_models
    if every == (name is not None):
        names = ", ".join(m.name for m in models)
        raise click.UsageError(f"Give a read model's NAME ({names}) or --all.")
    if every:
        return list(models)
    try:
        return [services().read_model(name or "")]
    except KeyError:
        names = ", ".join(m.name for m in models)
        raise click.BadParameter(f"no read model {name!r}; there are: {names}",
                                 param_hint="NAME") from None
