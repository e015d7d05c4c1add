"""``flask demo seed``: an idempotent demo clinic for development (never in production).

The admin key's secret is kept in var/demo-admin-key so that later runs can print it
again; keys are stored hashed, so a lost file means a fresh key on the next seed.
"""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from vitalbridge.cli_support import send_as_system
from vitalbridge.messaging.messages import Principal, Role
from vitalbridge.services import services
from vitalbridge.tenant.messages import (
    AuthenticateApiKey,
    CreateApiKey,
    CreateTenant,
    FindTenantBySlug,
    parse_api_key,
)

DEMO_SLUG = "demo"
KEY_FILE = Path(__file__).resolve().parents[1] / "var" / "demo-admin-key"

demo = AppGroup("demo", help="Demo data for development.")


@demo.command("seed")
def seed() -> None:
    """Create the demo clinic if missing and print its admin key and two curl lines."""
    if services().settings.env == "production":
        raise click.ClickException("The demo seed never runs with VITALBRIDGE_ENV=production.")
    tenant = services().queries.ask(FindTenantBySlug(slug=DEMO_SLUG), Principal.system())
    if tenant is None:
        ack = send_as_system(CreateTenant(name="Demo Clinic", slug=DEMO_SLUG,
                                          timezone="America/New_York", with_admin_key=True))
        _save_key(ack.extra["api_key"])
    elif not _saved_key_works():
        ack = send_as_system(CreateApiKey(name="demo admin", role=Role.ADMIN), tenant.id)
        _save_key(ack.extra["key"])
    _print_welcome(KEY_FILE.read_text().strip())


def _saved_key_works() -> bool:
    if not KEY_FILE.exists():
        return False
    parsed = parse_api_key(KEY_FILE.read_text().strip())
    if parsed is None:
        return False
    principal = services().queries.ask(AuthenticateApiKey(key=parsed),
                                       Principal.system(parsed.tenant_id))
    return principal is not None and principal.role == Role.ADMIN


def _save_key(key: str) -> None:
    KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
    KEY_FILE.write_text(key + "\n")
    KEY_FILE.chmod(0o600)


def _print_welcome(key: str) -> None:
    click.echo(f"Demo clinic '{DEMO_SLUG}' is ready. Admin API key: {key}")
    click.echo("Try:")
    click.echo("  export VB_KEY=$(cat var/demo-admin-key)")
    click.echo('  curl -s -H "Authorization: Bearer $VB_KEY" http://127.0.0.1:5000/api/v1/api-keys')
