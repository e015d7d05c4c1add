"""Domain-event signals: one blinker namespace per app, one signal per event type.

Each app (and so each test) gets its own namespace, so subscribers wired for one
database never receive another app's events.
"""

from __future__ import annotations

from typing import Any

from blinker import Namespace, Signal


class EventSignals:
    """The app's blinker namespace of domain events."""

    def __init__(self) -> None:
        self._namespace = Namespace()

    def signal(self, event_type: str) -> Signal:
        """The signal for ``event_type`` (e.g. ``"leave.approved"``)."""
        return self._namespace.signal(event_type)

    def send(self, envelope: dict[str, Any]) -> None:
        """Deliver one event to every receiver; a receiver's exception propagates."""
        self.signal(envelope["type"]).send(self, envelope=envelope)
