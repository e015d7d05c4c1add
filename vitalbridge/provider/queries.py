"""Query handlers of the provider domain (read-only; row-level security scopes the tenant)."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, bindparam, func, select, tuple_

from vitalbridge.db import among
from vitalbridge.driver_sql import DriverStatement
from vitalbridge.messaging.bus import ReadContext
from vitalbridge.provider.messages import (
    FindProviders,
    GetProvider,
    ListProviders,
    ProviderView,
)
from vitalbridge.provider.model import Provider, fold, name_key

SelectT = TypeVar("SelectT", bound="Select[*tuple[Any, ...]]")
NAME_ORDER = (Provider.family_name, Provider.given_name, Provider.id)


_VIEW_COLUMNS = (Provider.id, Provider.given_name, Provider.family_name, Provider.specialty,
                 Provider.email, Provider.phone, Provider.timezone, Provider.active,
                 Provider.version, Provider.created_at, Provider.updated_at,
                 Provider.deactivated_at)
# Columns, not an entity, through the driver (vitalbridge/driver_sql.py): every booking
# asks this.
_ONE = DriverStatement.of(select(*_VIEW_COLUMNS).where(Provider.id == bindparam("provider_id")))


def get_provider(query: GetProvider, ctx: ReadContext) -> ProviderView | None:
    """One provider by id; another tenant's is as absent as a missing one."""
    row = _ONE.first(ctx.session, {"provider_id": query.provider_id})
    return _view(row) if row else None


def find_providers(query: FindProviders, ctx: ReadContext) -> list[ProviderView]:
    """Every provider matching the filters, in name order (for other domains)."""
    # Columns, not entities, the ids as one array: read models ask for hundreds at once.
    stmt = _by_specialty(select(*_VIEW_COLUMNS).order_by(*NAME_ORDER), query.specialty)
    if query.ids is not None:
        stmt = stmt.where(among(Provider.id, query.ids))
    if query.active_only:
        stmt = stmt.where(Provider.active)
    return [_view(p) for p in ctx.session.execute(stmt)]


def list_providers(query: ListProviders, ctx: ReadContext) -> list[ProviderView]:
    """A page of providers (one more row than asked, to tell whether more follow)."""
    stmt = _by_specialty(select(Provider).order_by(*NAME_ORDER), query.specialty)
    if query.active is not None:
        stmt = stmt.where(Provider.active.is_(query.active))
    for term in (query.q or "").split():
        # Every word must occur somewhere in "given family", ignoring case and accents.
        stmt = stmt.where(name_key().like("%" + fold(_escape_like(term)) + "%", escape="\\"))
    if query.after:
        stmt = stmt.where(tuple_(*NAME_ORDER) > tuple_(*query.after))
    return [_view(p) for p in ctx.session.scalars(stmt.limit(query.limit + 1))]


def _by_specialty(stmt: SelectT, specialty: str | None) -> SelectT:
    if specialty is None:
        return stmt
    return stmt.where(func.lower(Provider.specialty) == func.lower(specialty))


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _view(provider: Any) -> ProviderView:
    return ProviderView(
        id=provider.id, given_name=provider.given_name, family_name=provider.family_name,
        specialty=provider.specialty, email=provider.email, phone=provider.phone,
        timezone=provider.timezone, active=provider.active, version=provider.version,
        created_at=provider.created_at, updated_at=provider.updated_at,
        deactivated_at=provider.deactivated_at)


QUERY_HANDLERS = {
    GetProvider: get_provider,
    FindProviders: find_providers,
    ListProviders: list_providers,
}
