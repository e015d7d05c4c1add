"""GET /api/v1/events: the tenant's domain events, for integrations that poll."""

from __future__ import annotations

from typing import Any

from flask.typing import ResponseReturnValue
from marshmallow import Schema, fields, validate

from vitalbridge.http.auth import current_principal, requires
from vitalbridge.http.blueprint import Blueprint
from vitalbridge.http.validators import QueryArgs, Text
from vitalbridge.messaging.feed import EventPage, ListEvents
from vitalbridge.messaging.messages import Role
from vitalbridge.services import services

blueprint = Blueprint("events", __name__, url_prefix="/api/v1",
                      description="The tenant's domain events in delivery order (admin).")


# Positions are PostgreSQL bigints; a larger `after` could only be a client's mistake.
MAX_POSITION = 2**63 - 1


class EventFeedArgs(QueryArgs):
    """Query arguments of the feed."""

    after = fields.Integer(load_default=0, validate=validate.Range(min=0, max=MAX_POSITION),
                           metadata={"description": "The last position you have seen."})
    type = Text(load_default=None, validate=validate.Length(min=1, max=100),
                metadata={"example": "appointment.created"})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class EventFeedSchema(Schema):
    """A page of events; ``next_after`` is what to pass as ``after`` next time."""

    items = fields.List(fields.Dict(), metadata={
        "description": "Event envelopes (shared/API.md) with their feed `position`."})
    next_after = fields.Integer()
    meta = fields.Dict(metadata={"description": "oldest_position (what retention left), "
                                                "latest_position, retention_days."})


@blueprint.get("/events")
@requires(Role.ADMIN)
@blueprint.arguments(EventFeedArgs, location="query")
@blueprint.response(200, EventFeedSchema)
def list_events(args: dict[str, Any]) -> ResponseReturnValue:
    """Events after a position, oldest first; gap-free, so `after` never misses one."""
    page: EventPage = services().queries.ask(ListEvents(**args), current_principal())
    last = page.items[-1]["position"] if page.items else args["after"]
    return {
        "items": page.items,
        "next_after": last,
        "meta": {"oldest_position": page.oldest_position,
                 "latest_position": page.latest_position,
                 "retention_days": services().settings.outbox_retention_days},
    }
