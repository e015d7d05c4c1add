"""The tenant domain's reactions to other domains' events (run by the outbox relay)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from vitalbridge.messaging.subscribers import Subscriber
from vitalbridge.messaging.uow import UnitOfWork
from vitalbridge.provider.messages import ProviderDeactivated
from vitalbridge.tenant.handlers import revoke_api_key
from vitalbridge.tenant.messages import RevokeApiKey
from vitalbridge.tenant.model import ApiKey


def revoke_keys_of_deactivated_provider(envelope: dict[str, Any], uow: UnitOfWork) -> None:
    """A deactivated provider's own keys stop working (each revocation is an event)."""
    provider_id = uuid.UUID(envelope["aggregate_id"])
    key_ids = uow.session.scalars(select(ApiKey.id).where(
        ApiKey.tenant_id == uow.acting_tenant, ApiKey.provider_id == provider_id,
        ApiKey.revoked_at.is_(None))).all()
    for key_id in key_ids:
        revoke_api_key(RevokeApiKey(key_id=key_id), uow)


SUBSCRIBERS = [
    Subscriber(name="tenant.revoke_provider_keys", event_type=ProviderDeactivated.type,
               react=revoke_keys_of_deactivated_provider),
]
