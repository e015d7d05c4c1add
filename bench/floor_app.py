"""The bare-stack floor: Flask + SQLAlchemy Core + psycopg doing only a booking's own SQL.

``POST /book`` takes Create Appointment's body and, in one transaction, inserts the
appointment (checked by both GiST exclusion constraints) and its outbox row; ``GET
/hello`` answers without the database. Served by gunicorn with deploy/gunicorn.conf.py,
like the app: ``FLOOR_DATABASE_URL=... gunicorn -c deploy/gunicorn.conf.py
bench.floor_app:app``. It connects as the owner (no row-level security, no key check,
no audit, no idempotency): what the app adds on top of this is what the ratio measures.
The outbox rows carry a type no subscriber takes, so the running relay only marks them
delivered.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, Response, request
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

_BOOK = text("""
INSERT INTO appointments (tenant_id, id, provider_id, patient_id, starts_at, ends_at, reason)
VALUES (:tenant, :id, :provider, :patient, :starts, :ends, :reason)
""")
_OUTBOX = text("""
INSERT INTO outbox (tenant_id, id, type, aggregate_type, aggregate_id, envelope)
VALUES (:tenant, :event, 'bench.floor_booked', 'appointment', :id, :envelope)
""")

app = Flask(__name__)
engine = create_engine(os.environ.get("FLOOR_DATABASE_URL", "postgresql+psycopg://"),
                       pool_size=int(os.environ.get("GUNICORN_THREADS", "4")),
                       pool_pre_ping=True)
TENANT = os.environ.get("FLOOR_TENANT_ID", "")


@app.get("/hello")
def hello() -> dict[str, str]:
    """No database: the floor of any endpoint."""
    return {"status": "ok"}


@app.post("/book")
def book() -> Response:
    """Insert the appointment and its outbox row; 201 ``{id}``, 409 on overlap."""
    body: dict[str, Any] = request.get_json()
    starts = datetime.fromisoformat(body["start"])
    row = {"tenant": TENANT, "id": uuid.uuid4(), "provider": uuid.UUID(body["provider_id"]),
           "patient": uuid.UUID(body["patient_id"]), "starts": starts,
           "ends": starts + timedelta(minutes=int(body.get("duration", 30))),
           "reason": body.get("reason")}
    event = uuid.uuid4()
    envelope = {"id": str(event), "type": "bench.floor_booked", "version": 1,
                "occurred_at": datetime.now(UTC).isoformat(), "tenant_id": TENANT,
                "aggregate_type": "appointment", "aggregate_id": str(row["id"]),
                "data": {key: str(value) for key, value in row.items()}}
    try:
        with engine.begin() as conn:
            conn.execute(_BOOK, row)
            conn.execute(_OUTBOX, {**row, "event": event, "envelope": json.dumps(envelope)})
    except IntegrityError:
        return Response('{"status": 409}', status=409, mimetype="application/json")
    answer = {"id": str(row["id"]), "version": 1, "status": "booked"}
    return Response(json.dumps(answer), status=201, mimetype="application/json")
