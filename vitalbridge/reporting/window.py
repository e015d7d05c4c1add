"""Moving the daily provider figures' window on as the days pass (an hourly job).

Each tenant's rows hold the dates of ``provider_day_window``. When the date turns, the
window's end must take in a new date (no event fills it: nothing happened on it yet)
and its start lets an old one go. The roll recomputes the new dates from the owners,
deletes the rows before the new start, and records the new ends, all in one
transaction under the checkpoint's row lock that every apply of the read model holds,
so an apply is wholly before or after it. A tenant being rebuilt is skipped: its
rebuild sets the window when it swaps, and the next roll takes it from there.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Engine, delete, select, text
from sqlalchemy.orm import Session

from vitalbridge.db import Database, set_tenant
from vitalbridge.messaging.bus import QueryBus
from vitalbridge.messaging.messages import Principal
from vitalbridge.messaging.read_models import Reader, lift_request_timeouts, refresh
from vitalbridge.provider.messages import FindProviders
from vitalbridge.reporting import read_model_tables as tables
from vitalbridge.reporting.read_models import ONE_DAY, ProviderDays, day_key, set_window, today

_BUILT_TENANTS = text("""
SELECT tenant_id FROM read_model_checkpoints
 WHERE read_model = :name AND built_at IS NOT NULL ORDER BY tenant_id
""")
_LOCK = text("""
SELECT rebuilding_since IS NOT NULL FROM read_model_checkpoints
 WHERE tenant_id = :tenant AND read_model = :name FOR UPDATE
""")
CHUNK = 1000


@dataclass(frozen=True)
class RollReport:
    """What one roll did over every tenant."""

    tenants: int
    new_dates: int


def roll_windows(db: Database, every_tenant: Engine, queries: QueryBus,
                 model: ProviderDays) -> RollReport:
    """Move every built tenant's window to today's (``every_tenant``: the relay's role,
    which may list the checkpoints of all tenants)."""
    with every_tenant.connect() as conn:
        tenant_ids = list(conn.execute(_BUILT_TENANTS, {"name": model.name}).scalars())
    rolled = new_dates = 0
    for tenant_id in tenant_ids:
        with db.sessions() as session, session.begin():
            set_tenant(session, tenant_id)
            added = _roll(session, queries, model, tenant_id)
        if added is not None:
            rolled, new_dates = rolled + 1, new_dates + added
    return RollReport(tenants=rolled, new_dates=new_dates)


def _roll(session: Session, queries: QueryBus, model: ProviderDays,
          tenant_id: uuid.UUID) -> int | None:
    """One tenant's roll; the number of dates added, None when skipped."""
    lift_request_timeouts(session)
    rebuilding = session.scalar(_LOCK, {"tenant": tenant_id, "name": model.name})
    window = session.execute(select(tables.provider_day_window)).one_or_none()
    if rebuilding is None or rebuilding or window is None:
        return None
    first, last = model.window.around(today(session))
    reader = Reader(session, Principal.system(tenant_id), queries)
    days = [window.last_date + n * ONE_DAY for n in range(1, (last - window.last_date).days + 1)]
    providers = sorted(str(p.id) for p in reader.ask(FindProviders()))
    keys = [day_key(provider, day) for provider in providers for day in days]
    for start in range(0, len(keys), CHUNK):
        refresh(model, model.table, keys[start:start + CHUNK], reader)
    session.execute(delete(model.table).where(model.table.c.tenant_id == tenant_id,
                                              model.table.c.local_date < first))
    set_window(session, tenant_id, max(first, window.first_date), max(last, window.last_date))
    return len(days)
