"""A relay process whose read-model applies can be slowed, so that a SIGKILL lands inside one.

Run by tests/fault/test_read_model_faults.py (``python -m tests.fault.read_model_relay``)
with DATABASE_URL set. With READ_MODEL_APPLY_SECONDS, each recomputation of a read
model's rows in an apply (messaging.read_models.refresh, or refresh_part for the columns
some events change alone, inside the apply's transaction) sleeps that long before its
statements and again after them, and notes ``begin`` and ``end`` in
READ_MODEL_RELAY_LOG, so the test can kill it mid-apply and tell that it did.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

from vitalbridge import create_app
from vitalbridge.messaging import read_models
from vitalbridge.messaging.cli import build_relay


def slow_down(seconds: float, log_path: str) -> None:
    """Wrap ``refresh`` and ``refresh_part``: note, sleep, recompute and write the rows,
    sleep, note."""
    whole, part = read_models.refresh, read_models.refresh_part

    def note(word: str, model: Any) -> None:
        with open(log_path, "a") as log:
            log.write(f"{word} {model.name}\n")

    def slowly(model: Any, write: Any) -> int:
        note("begin", model)
        time.sleep(seconds)
        written: int = write()
        time.sleep(seconds)
        note("end", model)
        return written

    def refresh(model: Any, table: Any, keys: Any, reader: Any) -> int:
        return slowly(model, lambda: whole(model, table, keys, reader))

    def refresh_part(model: Any, keys: Any, reader: Any) -> int:
        return slowly(model, lambda: part(model, keys, reader))

    read_models.refresh = refresh  # type: ignore[assignment]
    read_models.refresh_part = refresh_part  # type: ignore[assignment]


def main() -> None:
    """Relay until SIGTERM, slowed if asked."""
    seconds = float(os.environ.get("READ_MODEL_APPLY_SECONDS") or 0)
    if seconds:
        slow_down(seconds, os.environ["READ_MODEL_RELAY_LOG"])
    app = create_app(env="testing", outbox_poll_seconds=0.1, log_level="WARNING")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with app.app_context():
        build_relay().run(stop)


if __name__ == "__main__":
    main()
