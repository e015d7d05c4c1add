"""Liveness and readiness probes.

Readiness means the database answers, the schema is at the migrations' head, and the
app's role is one that row-level security applies to. A replica that cannot be reached
leaves the app ready but degraded (200): its queries read the primary meanwhile.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from vitalbridge.services import services

log = logging.getLogger(__name__)
blueprint = Blueprint("health", __name__, url_prefix="/health")

_ROLE_IS_SAFE = text("""
SELECT NOT (r.rolsuper OR r.rolbypassrls)
       AND NOT EXISTS (SELECT 1 FROM pg_tables t
                        WHERE t.schemaname = 'public' AND t.tableowner = current_user)
  FROM pg_roles r WHERE r.rolname = current_user
""")


@blueprint.get("/live")
def live() -> ResponseReturnValue:
    """The process is up and serving requests."""
    return jsonify(status="ok")


@blueprint.get("/ready")
def ready() -> ResponseReturnValue:
    """The database is reachable, migrated to head, and reached as a non-owner role."""
    checks = _run_checks()
    failed = {name for name, check in checks.items() if not check["ok"]}
    if not failed:
        return jsonify(status="ok", checks=checks), 200
    if failed == {"replica"}:
        return jsonify(status="degraded", checks=checks), 200
    return jsonify(status="unavailable", checks=checks), 503


def _run_checks() -> dict[str, dict[str, Any]]:
    db = services().db
    checks = _check_engine(db.engine, "database")
    if db.replica is not db.engine:
        checks.update(_check_engine(db.replica, "replica"))
    return checks


def _check_engine(engine: Engine, name: str) -> dict[str, dict[str, Any]]:
    try:
        with engine.connect() as conn:
            current = set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
            role_safe = bool(conn.execute(_ROLE_IS_SAFE).scalar())
    except SQLAlchemyError as error:
        log.warning("readiness: %s unreachable", name, exc_info=error)
        detail = f"{name} unreachable" + (": queries read the primary" if name == "replica"
                                          else "")
        return {name: {"ok": False, "detail": detail}}
    heads = set(current_app.extensions["migration_heads"])
    return {
        name: {"ok": True},
        f"{name}_migrations": {"ok": current == heads, "current": sorted(current),
                               "head": sorted(heads)},
        f"{name}_role": {"ok": role_safe,
                         "detail": "no superuser, no BYPASSRLS, owns no table"},
    }
