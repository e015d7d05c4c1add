"""Repairs: each discrepancy put right the way the missed reaction would have, through
the owning domain's command (audited as the system), never by editing its tables.

A read model's rows are recomputed by the read model itself, which is their writer.
An event the relay has not delivered is not ours to deliver: the relay does, once it
runs (the operator is told so).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vitalbridge.appointment.messages import PROVIDER_UNAVAILABLE, CancelAppointment
from vitalbridge.messaging.delivery_health import RetryStuckDelivery
from vitalbridge.messaging.errors import DomainError
from vitalbridge.messaging.messages import Command, Principal
from vitalbridge.messaging.reconcile import ReadModelCheck
from vitalbridge.messaging.uow import CommandContext
from vitalbridge.reconciliation.messages import (
    DEACTIVATED_PROVIDER_APPOINTMENT,
    DEACTIVATED_PROVIDER_KEY,
    LEAVE_OVERLAP,
    READ_MODEL_CHECK_PREFIX,
    STUCK_DELIVERY,
    Discrepancy,
)
from vitalbridge.services import Services
from vitalbridge.tenant.messages import RevokeApiKey

RELAY_DELIVERS = "not repaired: the relay delivers it once it runs (flask outbox status)"
REBUILDING = "not repaired: the read model is being rebuilt, which recomputes it"


@dataclass(frozen=True)
class Repair:
    """What became of one discrepancy: None when repaired, else why not."""

    discrepancy: Discrepancy
    failure: str | None


def _cancel(d: Discrepancy) -> Command:
    return CancelAppointment(appointment_id=uuid.UUID(d.subject_id), reason=PROVIDER_UNAVAILABLE)


def _revoke(d: Discrepancy) -> Command:
    return RevokeApiKey(key_id=uuid.UUID(d.subject_id))


def _retry(d: Discrepancy) -> Command:
    subscriber, event_id = d.subject_id.rsplit(":", 1)
    return RetryStuckDelivery(subscriber=subscriber, event_id=uuid.UUID(event_id))


# The command that redoes each check's missed reaction.
_COMMANDS: dict[str, Callable[[Discrepancy], Command]] = {
    LEAVE_OVERLAP: _cancel, DEACTIVATED_PROVIDER_APPOINTMENT: _cancel,
    DEACTIVATED_PROVIDER_KEY: _revoke, STUCK_DELIVERY: _retry,
}


def repair_all(svc: Services, tenant_id: uuid.UUID, found: Sequence[Discrepancy],
               settle_seconds: float) -> list[Repair]:
    """Repair what can be: read-model rows, then each missed reaction."""
    repairs = _repair_read_models(svc, tenant_id, found, settle_seconds)
    context = CommandContext(principal=Principal.system(tenant_id), request_id="reconcile")
    for d in found:
        if d.check.startswith(READ_MODEL_CHECK_PREFIX):
            continue
        make = _COMMANDS.get(d.check)
        if make is None:
            repairs.append(Repair(d, RELAY_DELIVERS))
            continue
        try:
            svc.commands.dispatch(make(d), context)
        except DomainError as refused:
            repairs.append(Repair(d, f"not repaired: {refused.type}"))
        else:
            repairs.append(Repair(d, None))
    return repairs


def _repair_read_models(svc: Services, tenant_id: uuid.UUID, found: Sequence[Discrepancy],
                        settle_seconds: float) -> list[Repair]:
    by_model: defaultdict[str, list[Discrepancy]] = defaultdict(list)
    for d in found:
        if d.check.startswith(READ_MODEL_CHECK_PREFIX):
            by_model[d.check.removeprefix(READ_MODEL_CHECK_PREFIX)].append(d)
    repairs = []
    for name, drifted in by_model.items():
        check = ReadModelCheck(svc.db, svc.queries, svc.read_model(name), tenant_id,
                               settle_seconds)
        done = check.repair(sorted(d.subject_id for d in drifted))
        repairs += [Repair(d, None if done else REBUILDING) for d in drifted]
    return repairs
