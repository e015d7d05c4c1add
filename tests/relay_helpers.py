"""Driving the real relay from a test."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask

from vitalbridge.messaging.cli import build_relay
from vitalbridge.messaging.parking import RetryPolicy
from vitalbridge.messaging.subscribers import Subscriber, connect


def drain_with_a_failing_subscriber(app: Flask, name: str, event_type: str,
                                    fail: Callable[[dict[str, Any]], Exception],
                                    retry: RetryPolicy) -> int:
    """Connect subscriber ``name`` of ``event_type`` that raises ``fail(envelope)``, drain
    the outbox with the app's relay, disconnect it; returns the number delivered."""
    def react(envelope: dict[str, Any], uow: Any) -> None:
        raise fail(envelope)

    svc = app.extensions["vitalbridge"]
    connect(Subscriber(name=name, event_type=event_type, react=react), svc.signals, svc.db)
    try:
        with app.app_context():
            relay = build_relay()
        relay.retry = retry
        return relay.drain()
    finally:  # the app is shared by the session: the next tests must not meet it
        svc.signals.disconnect(name)
