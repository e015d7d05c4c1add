"""``flask tenants ...`` and ``flask keys ...``: admin commands of the tenant domain."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from vitalbridge.cli_support import emit_result, send_as_system
from vitalbridge.tenant.messages import CreatePlatformKey, CreateTenant
from vitalbridge.tenant.schemas import CreateTenantBody

tenants = AppGroup("tenants", help="Create and inspect tenants (clinics).")
keys = AppGroup("keys", help="Create API keys.")


@tenants.command("create")
@click.option("--name", required=True, help="The clinic's display name.")
@click.option("--slug", required=True, help="Short unique name: lowercase, digits, hyphens.")
@click.option("--timezone", "timezone_", required=True, help="IANA zone, e.g. Europe/Paris.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object as the last line.")
def create_tenant(name: str, slug: str, timezone_: str, as_json: bool) -> None:
    """Create a tenant and print its id and a first admin API key."""
    errors = CreateTenantBody().validate({"name": name, "slug": slug, "timezone": timezone_})
    if errors:
        raise click.BadParameter("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
    ack = send_as_system(CreateTenant(name=name, slug=slug, timezone=timezone_,
                                      with_admin_key=True))
    key = ack.extra["api_key"]
    emit_result(
        [f"Created tenant {slug} ({ack.id}).",
         f"Admin API key (shown once, store it now): {key}"],
        {"tenant_id": str(ack.id), "api_key": key}, as_json)


@keys.command("create")
@click.option("--platform", is_flag=True, required=True,
              help="Create a platform_admin key (tenant keys are made through the API).")
@click.option("--name", default="platform admin", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object as the last line.")
def create_key(platform: bool, name: str, as_json: bool) -> None:
    """Create a platform_admin API key and print it."""
    ack = send_as_system(CreatePlatformKey(name=name))
    key = ack.extra["api_key"]
    emit_result([f"Platform admin API key (shown once, store it now): {key}"],
                {"api_key": key}, as_json)

