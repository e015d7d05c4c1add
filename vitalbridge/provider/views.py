"""HTTP endpoints of the provider domain: parse, send a message, answer."""

from __future__ import annotations

import uuid
from typing import Any

from flask import url_for
from flask.typing import ResponseReturnValue

from vitalbridge.http.auth import TENANT_ROLES, current_principal, requires
from vitalbridge.http.blueprint import Blueprint
from vitalbridge.http.commands import expected_version, send_command
from vitalbridge.http.error_docs import conditional, if_match
from vitalbridge.http.pagination import cursor_values, page_response, text_value, uuid_value
from vitalbridge.http.render import single
from vitalbridge.http.schemas import AckSchema
from vitalbridge.messaging.errors import NotFound
from vitalbridge.messaging.messages import Role
from vitalbridge.provider import schemas
from vitalbridge.provider.messages import (
    AddProvider,
    DeactivateProvider,
    GetProvider,
    ListProviders,
    ProviderView,
    UpdateProvider,
)
from vitalbridge.services import services
from vitalbridge.tenant.messages import GetTenant

blueprint = Blueprint("providers", __name__, url_prefix="/api/v1",
                      description="Providers: the clinicians whose time is booked.")


@blueprint.post("/providers")
@requires(Role.ADMIN)
@blueprint.arguments(schemas.AddProviderBody)
@blueprint.response(201, AckSchema)
def add_provider(body: dict[str, Any]) -> ResponseReturnValue:
    """Add Provider: emits provider.created; timezone defaults to the tenant's (admin)."""
    body["timezone"] = body["timezone"] or _tenant_timezone()
    return send_command(AddProvider(**body), created=True, location=lambda ack: url_for(
        "providers.get_provider", provider_id=ack.id))


@blueprint.get("/providers")
@requires(*TENANT_ROLES)
@blueprint.arguments(schemas.ProviderListArgs, location="query")
@blueprint.response(200, schemas.ProviderPageSchema)
def list_providers(args: dict[str, Any]) -> ResponseReturnValue:
    """List / search providers.

    Ordered by (family_name, given_name, id) in the database's collation; `next_cursor`
    continues after the last row of the page (keyset: no row is skipped or repeated
    because others were added or removed meanwhile). `q` matches every word it holds
    inside "given family", ignoring case and accents; `specialty` is exact but
    case-insensitive; `active` keeps active (true) or deactivated (false) providers.
    """
    rows = services().queries.ask(ListProviders(
        limit=args["limit"], after=_name_cursor(args["cursor"]), specialty=args["specialty"],
        q=args["q"], active=args["active"]), current_principal())
    return page_response(rows, args["limit"], _by_name)


@blueprint.get("/providers/<uuid:provider_id>")
@requires(*TENANT_ROLES)
@blueprint.response(200, schemas.ProviderSchema)
@conditional
def get_provider(provider_id: uuid.UUID) -> ResponseReturnValue:
    """One provider, with its ETag."""
    return single(services().queries.ask(GetProvider(provider_id=provider_id),
                                         current_principal()), "provider")


@blueprint.patch("/providers/<uuid:provider_id>")
@requires(Role.ADMIN)
@if_match
@blueprint.arguments(schemas.UpdateProviderBody)
@blueprint.response(200, AckSchema)
def update_provider(body: dict[str, Any], provider_id: uuid.UUID) -> ResponseReturnValue:
    """Update Provider: only the fields sent; If-Match optional; emits provider.updated."""
    return send_command(UpdateProvider(provider_id=provider_id,
                                       expected_version=expected_version(), **body))


@blueprint.post("/providers/<uuid:provider_id>/deactivate")
@requires(Role.ADMIN)
@if_match
@blueprint.response(200, AckSchema)
def deactivate_provider(provider_id: uuid.UUID) -> ResponseReturnValue:
    """Deactivate Provider: emits provider.deactivated; repeating it is a harmless 200."""
    return send_command(DeactivateProvider(provider_id=provider_id,
                                           expected_version=expected_version()))


def _tenant_timezone() -> str:
    # Asked here, not in the handler: a handler touches its own domain's tables only.
    principal = current_principal()
    tenant = services().queries.ask(GetTenant(tenant_id=principal.tenant_id), principal) \
        if principal.tenant_id else None
    if tenant is None:
        raise NotFound("No such tenant.")
    return tenant.timezone


def _by_name(view: ProviderView) -> tuple[Any, ...]:
    return (view.family_name, view.given_name, view.id)


def _name_cursor(cursor: str | None) -> tuple[str, str, uuid.UUID] | None:
    return cursor_values(cursor, text_value, text_value, uuid_value)
