"""Tables of the daily provider figures (written only by their projection).

One row per provider, zone and local date of the window, zero or not, so that a report
reads a range of rows and joins nothing. A provider's days are kept in every zone its
working hours were ever written in and its own, since a report splits all its dates in
the zone of the hours governing the last date asked. ``day_key`` (provider and date) is
what an event names: recomputing it rewrites that date in every zone.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Date, Index, Integer, PrimaryKeyConstraint, Table, Text
from sqlalchemy.types import DateTime, Uuid

from vitalbridge.db import Base

STAGING_SUFFIX = "_rebuild"
FIGURES = ("working_minutes", "booked_minutes", "appointments", "cancellations", "no_shows")


def _provider_day_columns() -> list[Column[Any]]:
    return [
        Column("tenant_id", Uuid, nullable=False),
        Column("provider_id", Uuid, nullable=False),
        Column("zone", Text, nullable=False),
        Column("local_date", Date, nullable=False),
        Column("day_key", Text, nullable=False),  # "<provider_id>/<local_date>"
        *(Column(name, Integer, nullable=False) for name in FIGURES),
        # The date as the report answers it, serialized once here rather than per answer.
        Column("day_json", Text, nullable=False),
        Column("computed_at", DateTime(timezone=True), nullable=False),
    ]


def _table(name: str) -> Table:
    return Table(name, Base.metadata, *_provider_day_columns(),
                 PrimaryKeyConstraint("tenant_id", "provider_id", "zone", "local_date",
                                      name=f"pk_{name}"))


provider_days = _table("provider_days")
provider_days_staging = _table("provider_days" + STAGING_SUFFIX)
Index("ix_provider_days_day_key", provider_days.c.tenant_id, provider_days.c.day_key)
# A report reads a range of the key and these columns only: an index-only scan where
# vacuum has marked the pages visible (the rows of one provider lie apart in the heap).
Index("ix_provider_days_report", provider_days.c.tenant_id, provider_days.c.provider_id,
      provider_days.c.zone, provider_days.c.local_date,
      postgresql_include=["day_json", *FIGURES])
Index("ix_provider_days_rebuild_day_key", provider_days_staging.c.tenant_id,
      provider_days_staging.c.day_key)

# Which local dates the rows of a tenant hold: reports inside are read from them, others
# computed live. The projection keeps dates within the rolling window of the settings;
# a rebuild sets both ends and the hourly roll moves them on.
provider_day_window = Table(
    "provider_day_window", Base.metadata,
    Column("tenant_id", Uuid, nullable=False),
    Column("first_date", Date, nullable=False),
    Column("last_date", Date, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("tenant_id", name="pk_provider_day_window"),
)
