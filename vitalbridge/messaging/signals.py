"""Domain-event signals: one blinker namespace per app, one signal per event type.

Each subscriber connects to its event type's signal under its own name (the blinker
sender), so the relay can deliver to one subscriber at a time and a failing subscriber
never hides an event from the others. Each app (and so each test) has its own
namespace, so subscribers wired for one database never receive another app's events.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from blinker import Namespace, Signal

Receiver = Callable[..., Any]


class EventSignals:
    """The app's blinker namespace of domain events and the names connected to each."""

    def __init__(self) -> None:
        self._namespace = Namespace()
        self._names: dict[str, list[str]] = defaultdict(list)

    def signal(self, event_type: str) -> Signal:
        """The signal for ``event_type`` (e.g. ``"leave.approved"``)."""
        return self._namespace.signal(event_type)

    def connect(self, event_type: str, name: str, receiver: Receiver) -> None:
        """Connect ``receiver`` as subscriber ``name``; names are unique per event type."""
        if name in self._names[event_type]:
            raise RuntimeError(f"subscriber {name!r} already listens to {event_type}")
        self._names[event_type].append(name)
        self.signal(event_type).connect(receiver, sender=name, weak=False)

    def subscribers(self, event_type: str) -> list[str]:
        """Names of the subscribers of ``event_type``, in the order they connected."""
        return list(self._names.get(event_type, ()))

    def event_types_of(self, subscriber: str) -> list[str]:
        """The event types ``subscriber`` listens to."""
        return [kind for kind, names in self._names.items() if subscriber in names]

    def deliver(self, subscriber: str, envelope: dict[str, Any]) -> None:
        """Deliver one event to one subscriber; its exception propagates."""
        self.signal(envelope["type"]).send(subscriber, envelope=envelope)
