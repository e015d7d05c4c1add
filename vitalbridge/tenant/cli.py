"""``flask tenants ...`` and ``flask keys ...``: admin commands of the tenant domain."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from vitalbridge.cli_support import emit_result, reads_primary, send_as_system
from vitalbridge.messaging.messages import Principal, Role
from vitalbridge.services import services
from vitalbridge.tenant.messages import (
    KEY_ROLES,
    CreateApiKey,
    CreatePlatformKey,
    CreateTenant,
    FindTenantBySlug,
)
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
@click.option("--platform", is_flag=True, help="Create a platform_admin key.")
@click.option("--tenant", "tenant_slug", help="Create a key in the tenant with this slug.")
@click.option("--role", type=click.Choice([r.value for r in KEY_ROLES if r != Role.PROVIDER]),
              default=Role.ADMIN.value, show_default=True, help="Role of a tenant key.")
@click.option("--name", help="A label for the key.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object as the last line.")
@reads_primary  # the tenant may have been created a moment ago (tenants create)
def create_key(platform: bool, tenant_slug: str | None, role: str, name: str | None,
               as_json: bool) -> None:
    """Create a platform_admin key (--platform) or a tenant key (--tenant SLUG) and print it."""
    if platform == bool(tenant_slug):
        raise click.UsageError("Give exactly one of --platform or --tenant SLUG.")
    if platform:
        key = send_as_system(CreatePlatformKey(name=name or "platform admin")).extra["api_key"]
        emit_result([f"Platform admin API key (shown once, store it now): {key}"],
                    {"api_key": key}, as_json)
        return
    tenant = services().queries.ask(FindTenantBySlug(slug=tenant_slug or ""), Principal.system())
    if tenant is None:
        raise click.ClickException(f"No tenant with slug {tenant_slug!r}.")
    command = CreateApiKey(name=name or f"{role} key (CLI)", role=Role(role))
    key = send_as_system(command, tenant.id).extra["key"]
    emit_result([f"{role} API key for {tenant_slug} (shown once, store it now): {key}"],
                {"tenant_id": str(tenant.id), "api_key": key}, as_json)

