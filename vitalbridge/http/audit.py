"""GET /api/v1/audit: the tenant's audit trail, newest first, for its admins to browse."""

from __future__ import annotations

from typing import Any

from flask.typing import ResponseReturnValue
from marshmallow import Schema, ValidationError, fields, validates_schema

from vitalbridge.http.auth import requires
from vitalbridge.http.blueprint import Blueprint
from vitalbridge.http.pagination import PageArgs, PageSchema, page_response, timestamp_id_cursor
from vitalbridge.http.queries import ask
from vitalbridge.http.render import UtcDateTime
from vitalbridge.http.validators import Timestamp
from vitalbridge.messaging.audit_trail import AuditEntryView, ListAuditEntries
from vitalbridge.messaging.messages import Role

blueprint = Blueprint("audit", __name__, url_prefix="/api/v1",
                      description="The tenant's audit trail: every command and its outcome "
                                  "(admin).")


class AuditListArgs(PageArgs):
    """Filters of the audit trail; ``from``/``to`` are a half-open window ``[from, to)``."""

    target_id = fields.UUID(load_default=None, metadata={
        "description": "Only commands on this resource (an appointment, a patient, ...)."})
    actor = fields.UUID(load_default=None, metadata={
        "description": "Only commands sent with this API key (its id, not its secret)."})
    start = Timestamp(load_default=None, data_key="from", metadata={
        "description": "Entries at or after this instant (RFC 3339 with an offset)."})
    end = Timestamp(load_default=None, data_key="to", metadata={
        "description": "Entries before this instant; must be after `from`."})

    @validates_schema
    def _to_after_from(self, data: dict[str, Any], **kwargs: Any) -> None:
        # An empty window is a mistake, not a question: say so, as the other lists do.
        start, end = data.get("start"), data.get("end")
        if start is not None and end is not None and end <= start:
            raise ValidationError("Must be after from.", field_name="to")


class AuditActorSchema(Schema):
    """Who sent the command."""

    key_id = fields.UUID(allow_none=True, metadata={
        "description": "The API key's id; null when the app acted on its own (a reaction "
                       "to an event)."})
    role = fields.String(metadata={"description": "The key's role at the time."})


class AuditEntrySchema(Schema):
    """One command the tenant ran, and how it ended."""

    id = fields.UUID()
    occurred_at = UtcDateTime(metadata={
        "description": "When the command's transaction began (UTC)."})
    actor = fields.Nested(AuditActorSchema)
    command = fields.String(metadata={"example": "CreateAppointment"})
    target_id = fields.UUID(allow_none=True, metadata={
        "description": "The resource the command made, changed or was refused on; null when a "
                       "creation was refused (nothing was made)."})
    outcome = fields.String(metadata={
        "description": "`succeeded` or `refused:<problem type>`."})
    request_id = fields.String(allow_none=True, metadata={
        "description": "The X-Request-ID of the request that sent the command."})


class AuditPageSchema(PageSchema):
    """A page of the audit trail."""

    items = fields.List(fields.Nested(AuditEntrySchema))


@blueprint.get("/audit")
@requires(Role.ADMIN, Role.PLATFORM_ADMIN)
@blueprint.arguments(AuditListArgs, location="query")
@blueprint.response(200, AuditPageSchema)
def list_audit_entries(args: dict[str, Any]) -> ResponseReturnValue:
    """The tenant's audit trail, newest first (admin; a platform key: the platform's).

    One entry per command the tenant's keys (or the app, reacting to events) sent; for
    a platform key, the platform's own commands (tenants and platform keys created):
    who (`actor`), what (`command`, `target_id`), how it ended (`outcome`), from which
    request (`request_id`). Filters combine with AND. Pages follow `next_cursor`.

    This is a view for people to browse, not a feed: an entry is ordered by when its
    transaction began, and one that commits late can land behind a cursor already
    passed. Integrations that must see everything follow `GET /api/v1/events`.
    """
    rows = ask(ListAuditEntries(
        limit=args["limit"], before=timestamp_id_cursor(args["cursor"]),
        target_id=args["target_id"], actor_key_id=args["actor"], start=args["start"],
        end=args["end"]))
    return page_response(rows, args["limit"], _sort_key)


def _sort_key(entry: AuditEntryView) -> tuple[Any, ...]:
    return entry.occurred_at, entry.id
