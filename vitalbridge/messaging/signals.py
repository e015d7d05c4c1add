"""Domain-event signals: one blinker namespace per app, one signal per event type.

Each subscriber connects to its event type's signal under its own name (the blinker
sender), so the relay can deliver to one subscriber at a time and a failing subscriber
never hides an event from the others. Each app has its own namespace, so subscribers
wired for one database never receive another app's events (tests share one app: a
subscriber a test connects for a while is disconnected again).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from blinker import Namespace, Signal

Receiver = Callable[..., Any]
ALL_EVENTS = "*"  # the event type under which a subscriber receives every event


class EventSignals:
    """The app's blinker namespace of domain events and the names connected to each."""

    def __init__(self) -> None:
        self._namespace = Namespace()
        self._names: dict[str, list[str]] = defaultdict(list)
        self._retry_forever: set[str] = set()
        self._batched: set[str] = set()
        self._receivers: dict[str, list[tuple[str, Receiver]]] = defaultdict(list)

    def signal(self, event_type: str) -> Signal:
        """The signal for ``event_type`` (e.g. ``"leave.approved"``)."""
        return self._namespace.signal(event_type)

    def connect(self, event_type: str, name: str, receiver: Receiver, *,
                retry_forever: bool = False) -> None:
        """Connect ``receiver`` as subscriber ``name``; names are unique per event type.

        ``retry_forever`` subscribers (the broker publisher) are never dead-lettered:
        an outage of theirs only delays them.
        """
        if name in self._names[event_type]:
            raise RuntimeError(f"subscriber {name!r} already listens to {event_type}")
        self._names[event_type].append(name)
        if retry_forever:
            self._retry_forever.add(name)
        self.signal(event_type).connect(receiver, sender=name, weak=False)
        self._receivers[name].append((event_type, receiver))

    def connect_batch(self, event_types: frozenset[str], name: str,
                      receiver: Receiver) -> None:
        """Connect ``receiver`` as subscriber ``name`` of several types, on one signal.

        The relay then hands it every event of those types in a batch at once (a read
        model recomputes once per batch, not once per run of one type).
        """
        for event_type in sorted(event_types):
            if name in self._names[event_type]:
                raise RuntimeError(f"subscriber {name!r} already listens to {event_type}")
            self._names[event_type].append(name)
        self._batched.add(name)
        self.signal(_batch_signal(name)).connect(receiver, sender=name, weak=False)
        self._receivers[name].append((_batch_signal(name), receiver))

    def disconnect(self, name: str) -> None:
        """Subscriber ``name`` stops receiving anything (one connected for a while: a
        test's failing subscriber must not outlive its test in a shared app)."""
        for signal_name, receiver in self._receivers.pop(name, []):
            self.signal(signal_name).disconnect(receiver, sender=name)
        for names in self._names.values():
            if name in names:
                names.remove(name)
        self._retry_forever.discard(name)
        self._batched.discard(name)

    def lane(self, subscriber: str, event_type: str) -> str:
        """The signal ``subscriber`` receives ``event_type`` on: consecutive events on the
        same signal are delivered to it together."""
        if subscriber in self._batched:
            return _batch_signal(subscriber)
        if subscriber in self._names.get(ALL_EVENTS, ()):
            return ALL_EVENTS
        return event_type

    def batched(self, subscriber: str) -> bool:
        """Whether ``subscriber`` takes whole batches of several types (a read model)."""
        return subscriber in self._batched

    def subscribers(self, event_type: str) -> list[str]:
        """Names of the subscribers of ``event_type``, in the order they connected."""
        return [*self._names.get(event_type, ()), *self._names.get(ALL_EVENTS, ())]

    def names(self) -> list[str]:
        """Every connected subscriber's name."""
        return list(dict.fromkeys(name for names in self._names.values() for name in names))

    def retries_forever(self, subscriber: str) -> bool:
        """Is ``subscriber`` exempt from dead-lettering?"""
        return subscriber in self._retry_forever

    def event_types_of(self, subscriber: str) -> list[str]:
        """The event types ``subscriber`` listens to (``*`` means every type)."""
        return [kind for kind, names in self._names.items() if subscriber in names]

    def deliver(self, subscriber: str, event_type: str,
                envelopes: list[dict[str, Any]]) -> dict[str, str | None]:
        """Deliver events of one type to one subscriber: event id -> None or its error."""
        outcomes: dict[str, str | None] = {}
        signal = self.signal(self.lane(subscriber, event_type))
        for _receiver, result in signal.send(subscriber, envelopes=envelopes):
            outcomes.update(result)
        return outcomes


def _batch_signal(subscriber: str) -> str:
    return f"batch:{subscriber}"
