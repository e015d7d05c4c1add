"""``flask demo seed``: an idempotent demo clinic for development (never in production).

It holds providers with weekday working hours (a lunch break included), patients, and a
few appointments on the next weekday.

The admin key's secret is kept in var/demo-admin-key (VITALBRIDGE_VAR) so that later runs
can print it again; keys are stored hashed, so a lost file means a fresh key next seed.
"""

from __future__ import annotations

import os
import uuid
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import click
from flask.cli import AppGroup

from vitalbridge.appointment.messages import (
    CreateAppointment,
    ListAppointments,
    schedule_facts,
)
from vitalbridge.cli_support import reads_primary, send_as_system
from vitalbridge.messaging.messages import Principal, Role
from vitalbridge.patient.messages import RegisterPatient, SearchPatients
from vitalbridge.provider.messages import AddProvider, FindProviders
from vitalbridge.schedule.calendar import WeeklyRule
from vitalbridge.schedule.messages import GetWorkingHours, SetWorkingHours, ViewSchedule
from vitalbridge.services import services
from vitalbridge.tenant.messages import (
    AuthenticateApiKey,
    CreateApiKey,
    CreateTenant,
    FindTenantBySlug,
    parse_api_key,
)

DEMO_SLUG = "demo"
DEMO_ZONE = "America/New_York"
# (given, family, specialty)
PROVIDERS = [
    ("Amara", "Okafor", "Family Medicine"),
    ("Mateo", "Fernández", "Pediatrics"),
    ("Hannah", "Schmidt", "Cardiology"),
]
# Monday to Friday, 09:00-12:30 and 13:30-17:00 local time
WEEKDAY_HOURS = tuple(
    WeeklyRule(weekday=day, start=time(hour, minute), end=time(end_hour, end_minute))
    for day in range(5)
    for hour, minute, end_hour, end_minute in ((9, 0, 12, 30), (13, 30, 17, 0)))
# (given, family, birth date, sex, phone)
PATIENTS = [
    ("José", "García", date(1984, 5, 17), "male", "+12025550143"),
    ("Émilie", "Dubois", date(1991, 11, 2), "female", "+12025550178"),
    ("John", "Smith", date(1975, 2, 28), "male", None),
    ("Aiko", "Tanaka", date(2016, 8, 9), "female", "+12025550111"),
    ("Li", "Wei", date(1962, 1, 30), "other", None),
]

demo = AppGroup("demo", help="Demo data for development.")


@demo.command("seed")
@reads_primary
def seed() -> None:
    """Create the demo clinic if missing and print its admin key and two curl lines."""
    if services().settings.env == "production":
        raise click.ClickException("The demo seed never runs with VITALBRIDGE_ENV=production.")
    key_file = Path(services().settings.var_dir) / "demo-admin-key"
    tenant = services().queries.ask(FindTenantBySlug(slug=DEMO_SLUG), Principal.system())
    if tenant is None:
        ack = send_as_system(CreateTenant(name="Demo Clinic", slug=DEMO_SLUG,
                                          timezone=DEMO_ZONE, with_admin_key=True))
        _save_key(key_file, ack.extra["api_key"])
        tenant_id = ack.id
    else:
        tenant_id = tenant.id
        if not _saved_key_works(key_file):
            ack = send_as_system(CreateApiKey(name="demo admin", role=Role.ADMIN), tenant_id)
            _save_key(key_file, ack.extra["key"])
    _seed_providers(tenant_id)
    _seed_working_hours(tenant_id)
    _seed_patients(tenant_id)
    _seed_appointments(tenant_id)
    _print_welcome(key_file)


def _seed_providers(tenant_id: uuid.UUID) -> None:
    """Add the demo providers that are missing (by name), so reruns change nothing."""
    existing = services().queries.ask(FindProviders(), Principal.system(tenant_id))
    names = {(p.given_name, p.family_name) for p in existing}
    for given, family, specialty in PROVIDERS:
        if (given, family) not in names:
            send_as_system(AddProvider(given_name=given, family_name=family,
                                       specialty=specialty, timezone=DEMO_ZONE), tenant_id)


def _seed_working_hours(tenant_id: uuid.UUID) -> None:
    """Give each demo provider weekday hours, unless it has working hours already."""
    as_tenant = Principal.system(tenant_id)
    for provider in services().queries.ask(FindProviders(), as_tenant):
        if services().queries.ask(GetWorkingHours(provider_id=provider.id), as_tenant) is None:
            send_as_system(SetWorkingHours(provider_id=provider.id, timezone=provider.timezone,
                                           rules=WEEKDAY_HOURS), tenant_id)


def _seed_patients(tenant_id: uuid.UUID) -> None:
    """Register the demo patients that are missing (by name and birth date)."""
    existing = services().queries.ask(SearchPatients(limit=500), Principal.system(tenant_id))
    known = {(p.given_name, p.family_name, p.birth_date) for p in existing}
    for given, family, born, sex, phone in PATIENTS:
        if (given, family, born) not in known:
            send_as_system(RegisterPatient(given_name=given, family_name=family,
                                           birth_date=born, sex=sex, phone=phone), tenant_id)


def _seed_appointments(tenant_id: uuid.UUID) -> None:
    """Book each demo provider one patient on the next weekday, once (never re-booked)."""
    as_tenant = Principal.system(tenant_id)
    if services().queries.ask(ListAppointments(limit=1), as_tenant):
        return
    providers = services().queries.ask(FindProviders(), as_tenant)
    patients = services().queries.ask(SearchPatients(limit=len(providers)), as_tenant)
    day = _next_weekday(datetime.now(ZoneInfo(DEMO_ZONE)).date())
    for hour, (provider, patient) in enumerate(zip(providers, patients, strict=False), start=9):
        start = datetime.combine(day, time(hour, 30), ZoneInfo(provider.timezone))
        end = start + timedelta(minutes=30)
        schedule = services().queries.ask(ViewSchedule(
            provider_id=provider.id, start=start, end=end,
            default_timezone=provider.timezone), as_tenant)
        working, leave = schedule_facts(schedule.items)
        send_as_system(CreateAppointment(
            provider_id=provider.id, patient_id=patient.id, start=start, end=end,
            reason="Demo visit", provider_active=provider.active, working=working,
            leave=leave), tenant_id)


def _next_weekday(today: date) -> date:
    day = today + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


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
    click.echo(f'  curl -s -H "Authorization: Bearer $VB_KEY" {base}/api/v1/appointments')
