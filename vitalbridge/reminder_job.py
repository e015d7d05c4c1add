"""The scheduler's reminder job: each minute, every tenant's due appointment reminders.

It reads each clinic's lead times (the tenant domain's setting) and asks the
appointment domain how many reminders are due; only then does it send the command
that emits them, so a quiet minute writes nothing (no command, no audit row). The
appointment domain makes each reminder go out once, however often this runs.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from vitalbridge.appointment.messages import CountDueReminders, SendDueReminders
from vitalbridge.cli_support import every_tenant
from vitalbridge.messaging.errors import failure_summary
from vitalbridge.messaging.messages import Principal
from vitalbridge.messaging.uow import CommandContext
from vitalbridge.services import Services, services
from vitalbridge.tenant.messages import GetTenantSettings

log = logging.getLogger(__name__)


class RemindersFailed(RuntimeError):
    """Some tenants' reminders could not be sent this time (the others were)."""


def send_reminders(now: datetime | None = None) -> int:
    """Emit every tenant's due reminders as of ``now`` (default: the clock); how many.

    A tenant that fails is logged and skipped, so the others still get theirs; the
    run then fails as a whole, and the next run (a minute later) tries it again.
    """
    svc = services()
    moment = now or datetime.now(UTC)
    sent, failed = 0, 0
    for tenant in every_tenant(svc.queries):
        try:
            sent += send_tenant_reminders(svc, tenant.id, moment)
        except Exception as error:  # noqa: BLE001 - one clinic's failure spares the rest
            failed += 1
            log.warning("reminders failed for a tenant",
                        extra={"tenant_id": str(tenant.id), "error": failure_summary(error)})
    log.info("sent reminders", extra={"count": sent, "failed_tenants": failed})
    if failed:
        raise RemindersFailed(f"reminders failed for {failed} tenant(s)")
    return sent


def send_tenant_reminders(svc: Services, tenant_id: uuid.UUID, now: datetime) -> int:
    """One tenant's due reminders, in batches until none is left; how many went out."""
    principal = Principal.system(tenant_id)
    leads = svc.queries.ask(GetTenantSettings(), principal).reminder_lead_minutes
    context = CommandContext(principal=principal, request_id="scheduler")
    sent = 0
    while svc.queries.ask(CountDueReminders(now=now, lead_minutes=leads), principal):
        emitted = svc.commands.dispatch(SendDueReminders(now=now, lead_minutes=leads),
                                        context).extra["reminders"]
        sent += emitted
        if emitted == 0:  # the rest were claimed by a run in flight beside this one
            break
    return sent
