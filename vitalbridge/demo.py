"""``flask demo seed``: an idempotent demo clinic for development (never in production).

The admin key's secret is kept in var/demo-admin-key (VITALBRIDGE_VAR) so that later runs
can print it again; keys are stored hashed, so a lost file means a fresh key next seed.
"""

from __future__ import annotations

import os
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

demo = AppGroup("demo", help="Demo data for development.")


@demo.command("seed")
def seed() -> None:
    """Create the demo clinic if missing and print its admin key and two curl lines."""
    if services().settings.env == "production":
        raise click.ClickException("The demo seed never runs with VITALBRIDGE_ENV=production.")
    key_file = Path(services().settings.var_dir) / "demo-admin-key"
    tenant = services().queries.ask(FindTenantBySlug(slug=DEMO_SLUG), Principal.system())
    if tenant is None:
        ack = send_as_system(CreateTenant(name="Demo Clinic", slug=DEMO_SLUG,
                                          timezone="America/New_York", with_admin_key=True))
        _save_key(key_file, ack.extra["api_key"])
    elif not _saved_key_works(key_file):
        ack = send_as_system(CreateApiKey(name="demo admin", role=Role.ADMIN), tenant.id)
        _save_key(key_file, ack.extra["key"])
    _print_welcome(key_file)


def _saved_key_works(key_file: Path) -> bool:
    if not key_file.exists():
        return False
    parsed = parse_api_key(key_file.read_text().strip())
    if parsed is None:
        return False
    principal = services().queries.ask(AuthenticateApiKey(key=parsed),
                                       Principal.system(parsed.tenant_id))
    return principal is not None and principal.role == Role.ADMIN


def _save_key(key_file: Path, key: str) -> None:
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)


def _print_welcome(key_file: Path) -> None:
    base = f"http://127.0.0.1:{os.environ.get('PORT', '5000')}"
    click.echo(f"Demo clinic '{DEMO_SLUG}' is ready. Admin API key: {key_file.read_text().strip()}")
    click.echo("Try:")
    click.echo(f"  export VB_KEY=$(cat {key_file})")
    click.echo(f'  curl -s -H "Authorization: Bearer $VB_KEY" {base}/api/v1/api-keys')
