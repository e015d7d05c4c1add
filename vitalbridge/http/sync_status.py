"""GET /api/v1/sync-status: how far behind the commands each read model is (admin)."""

from __future__ import annotations

from flask.typing import ResponseReturnValue
from marshmallow import Schema, fields

from vitalbridge.http.auth import requires
from vitalbridge.http.blueprint import Blueprint
from vitalbridge.http.consistency import MetaSchema
from vitalbridge.http.queries import ask
from vitalbridge.http.render import UtcDateTime
from vitalbridge.messaging.messages import Role
from vitalbridge.messaging.replica import replica_state
from vitalbridge.messaging.sync_status import SyncState, SyncStatus
from vitalbridge.services import services

blueprint = Blueprint("sync_status", __name__, url_prefix="/api/v1",
                      description="The read models' synchronisation with the commands.")


class LastEventSchema(Schema):
    """The event a read model applied last."""

    id = fields.UUID()
    committed_at = UtcDateTime()
    applied_at = UtcDateTime()


class LastRebuildSchema(Schema):
    """The last completed rebuild."""

    at = UtcDateTime()
    seconds = fields.Float()
    rows = fields.Integer()


class ReadModelStateSchema(MetaSchema):
    """One read model: its freshness (as `meta` says it), backlog and checkpoint."""

    name = fields.String()
    backlog = fields.Integer(metadata={
        "description": "Events it follows that it has not applied (undelivered, or "
                       "parked for it: retrying or dead)."})
    last_event = fields.Nested(LastEventSchema, allow_none=True)
    built_at = UtcDateTime(allow_none=True, metadata={
        "description": "When it was first filled for this tenant; null: never (rebuild it)."})
    rebuilding_since = UtcDateTime(allow_none=True)
    needs_rebuild = fields.Boolean(metadata={
        "description": "Never filled for this tenant (a migration added it): run "
                       "`flask read-models rebuild NAME`; until then it is behind."})
    last_rebuild = fields.Nested(LastRebuildSchema, allow_none=True)


class RelayStateSchema(Schema):
    """The outbox relay in this tenant."""

    backlog = fields.Integer(metadata={"description": "Undelivered events."})
    oldest_seconds = fields.Float(metadata={"description": "Age of the oldest of them."})


class SyncStatusSchema(Schema):
    """Every read model's state, the relay's, and the replica's."""

    read_models = fields.List(fields.Nested(ReadModelStateSchema))
    relay = fields.Nested(RelayStateSchema)
    replica = fields.Dict(allow_none=True, metadata={
        "description": "The replica queries use: `reachable` (false: queries read the "
                       "primary), `lag_seconds` (now minus its last replayed commit; 0 "
                       "when it has replayed all it received), `received_lsn`, "
                       "`replayed_lsn`, `replay_paused`, `in_recovery`; null: no replica "
                       "is configured, queries read the primary."})
    as_of = UtcDateTime()


@blueprint.get("/sync-status")
@requires(Role.ADMIN)
@blueprint.response(200, SyncStatusSchema)
def sync_status() -> ResponseReturnValue:
    """Per read model: status, lag, backlog, last event applied, last rebuild (admin).

    The same figures `flask read-models status` prints, for the key's tenant.
    """
    svc = services()
    state: SyncState = ask(SyncStatus(read_models=svc.read_models))
    body = state.to_json()
    if svc.db.has_replica:
        body["replica"] = replica_state(svc.db.replica)
    return body
