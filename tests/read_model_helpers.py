"""Bringing the read models up to date in tests: the relay's way, or a rebuild."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Flask
from sqlalchemy import select

from vitalbridge.db import set_tenant
from vitalbridge.messaging.cli import build_relay
from vitalbridge.messaging.messages import Principal, to_json_value
from vitalbridge.messaging.read_models import Reader, ReadModel
from vitalbridge.messaging.rebuild import exclusive, rebuild_tenant


def catch_up(app: Flask) -> int:
    """Deliver every waiting event, the reactions' own events too; the count delivered."""
    with app.app_context():
        relay = build_relay()
    total = 0
    try:
        while delivered := relay.drain():
            total += delivered
    finally:
        relay.engine.dispose()
    return total


def rebuild(app: Flask, tenant_id: uuid.UUID, *names: str) -> None:
    """Rebuild read models (all, or those named) of one tenant from the command tables.

    For tests that change rows behind the commands' back (an owner UPDATE moving an
    appointment into the past): no event tells the read models, a rebuild does.
    """
    svc = app.extensions["vitalbridge"]
    for model in svc.read_models:
        if not names or model.name in names:
            with exclusive(svc.db, model):
                rebuild_tenant(svc.db, svc.queries, model, tenant_id)


def _comparable(row: dict) -> dict:
    """A row as JSON values, without the moment it was computed at (nor its tenant)."""
    return {key: to_json_value(value) for key, value in row.items()
            if key not in ("computed_at", "tenant_id")}


def stored_rows(app: Flask, tenant_id: uuid.UUID, model: ReadModel) -> dict[str, dict]:
    """The live rows of ``model`` in a tenant, by key, as a test compares them."""
    svc = app.extensions["vitalbridge"]
    with svc.db.sessions() as session, session.begin():
        set_tenant(session, tenant_id)
        rows = session.execute(select(model.table)).mappings().all()
    return {_row_key(model, row): _comparable(dict(row)) for row in rows}


def recomputed_rows(app: Flask, tenant_id: uuid.UUID, model: ReadModel) -> dict[str, dict]:
    """What ``model`` would hold for a tenant if computed from the command tables now."""
    svc = app.extensions["vitalbridge"]
    with svc.db.sessions() as session, session.begin():
        set_tenant(session, tenant_id)
        reader = Reader(session, Principal.system(tenant_id), svc.queries)
        keys: list[str] = []
        while page := model.key_page(reader, keys[-1] if keys else None, 1000):
            keys += page
        rows = model.rows_for(keys, reader) if keys else []
    return {_row_key(model, row): _comparable(row) for row in rows}


def _row_key(model: ReadModel, row: Any) -> str:
    """A row's primary key but the tenant (a key may have several rows, e.g. zones)."""
    return "|".join(str(row[column.name]) for column in model.table.primary_key.columns
                    if column.name != "tenant_id")


def assert_read_models_match(app: Flask, tenant_id: uuid.UUID) -> None:
    """Every read model of the tenant equals a recomputation from the command tables."""
    for model in app.extensions["vitalbridge"].read_models:
        stored, expected = stored_rows(app, tenant_id, model), recomputed_rows(
            app, tenant_id, model)
        assert stored.keys() == expected.keys(), model.name
        for key, row in expected.items():
            assert stored[key] == row, (model.name, key)
