"""A relay process whose one subscriber records each event it handles in ``fault_effects``.

Run by the fault tests (``python -m tests.fault.recording_relay``) with DATABASE_URL set;
they kill it with SIGKILL at random moments. The effect row is written in the same
transaction as the subscriber's inbox row, so a redelivery must not add a second one.
"""

from __future__ import annotations

import signal
import threading

from sqlalchemy import text

from vitalbridge import create_app
from vitalbridge.messaging.cli import build_relay
from vitalbridge.messaging.subscribers import Subscriber, connect

EVENT_TYPES = ("tenant.created", "api_key.created", "api_key.revoked")
_RECORD = text("""
INSERT INTO fault_effects (event_id, aggregate_id, seq)
SELECT id, aggregate_id, seq FROM outbox WHERE tenant_id = :tenant AND id = :event
""")


def record(envelope: dict, uow) -> None:  # type: ignore[no-untyped-def]
    """The effect: one row per handled event (duplicates would show)."""
    uow.session.execute(_RECORD, {"tenant": envelope["tenant_id"], "event": envelope["id"]})


def main() -> None:
    """Wire the recorder, then relay until SIGTERM."""
    app = create_app(env="testing", outbox_poll_seconds=0.2, log_level="WARNING")
    svc = app.extensions["vitalbridge"]
    for kind in EVENT_TYPES:
        connect(Subscriber(name="recorder", event_type=kind, react=record), svc.signals, svc.db)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with app.app_context():
        build_relay().run(stop)


if __name__ == "__main__":
    main()
