"""Message base types, acknowledgements and API key formats (no I/O)."""

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import ClassVar

from vitalbridge.db import PLATFORM_SCOPE
from vitalbridge.messaging.messages import Ack, Event, Principal, Role, to_json_value
from vitalbridge.tenant.messages import format_api_key, parse_api_key


@dataclass(frozen=True, kw_only=True)
class Moved(Event):
    type: ClassVar[str] = "thing.moved"
    aggregate_type: ClassVar[str] = "thing"
    to: datetime
    on: date


def test_event_data_is_json_ready_and_excludes_envelope_fields():
    tenant, thing = uuid.uuid4(), uuid.uuid4()
    local = datetime(2027, 3, 14, 9, 30, tzinfo=timezone(timedelta(hours=-4)))
    event = Moved(tenant_id=tenant, aggregate_id=thing, to=local, on=date(2027, 3, 14))
    assert event.data() == {"to": "2027-03-14T13:30:00Z", "on": "2027-03-14"}


def test_ack_round_trips_through_json():
    ack = Ack(id=uuid.uuid4(), version=3, status="revoked", extra={"key": "secret"})
    assert Ack.from_json(ack.to_json()) == ack
    assert Ack(id=ack.id, version=1).to_json() == {"id": str(ack.id), "version": 1}


def test_platform_principal_is_scoped_to_the_reserved_tenant():
    assert Principal(role=Role.PLATFORM_ADMIN).scope == PLATFORM_SCOPE
    tenant = uuid.uuid4()
    assert Principal.system(tenant).scope == tenant


def test_api_keys_round_trip_and_reject_lookalikes():
    tenant, key = uuid.uuid4(), uuid.uuid4()
    secret = "ab" * 24
    parsed = parse_api_key(format_api_key(tenant, key, secret))
    assert (parsed.tenant_id, parsed.key_id, parsed.secret) == (tenant, key, secret)
    platform = parse_api_key(format_api_key(None, key, secret))
    assert platform.tenant_id is None
    for bad in ("", "vbk_", format_api_key(tenant, key, secret) + "0",
                format_api_key(tenant, key, secret).upper(), "Bearer x"):
        assert parse_api_key(bad) is None


def test_json_values_render_utc_with_z():
    assert to_json_value(datetime(2027, 1, 1, tzinfo=UTC)) == "2027-01-01T00:00:00Z"
    assert to_json_value([Role.ADMIN, {"a": uuid.UUID(int=1)}]) == [
        "admin", {"a": "00000000-0000-0000-0000-000000000001"}]
