"""Publishing events to an external broker: RabbitMQ today, others behind one interface.

The broker publisher is one more subscriber of every event type, so it inherits the
relay's guarantees: per-aggregate order, retries with backoff while the broker is down
(events wait, parked, and drain when it returns), and an inbox row, written only after
the broker confirmed the message, that says "published".
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

from kombu import Connection, Exchange, Producer

log = logging.getLogger(__name__)

EXCHANGE = "vitalbridge.events"


class BrokerUnavailable(RuntimeError):
    """The broker refused, did not confirm, or cannot be reached right now."""


class Publisher(Protocol):
    """Something that publishes an event envelope and returns only once it is safe."""

    name: str

    def publish(self, envelope: dict[str, Any]) -> None:
        """Publish; return after the broker confirmed, raise BrokerUnavailable otherwise."""


class AmqpPublisher:
    """Persistent messages to a topic exchange, routing key = event type, confirmed."""

    name = "broker.amqp"

    def __init__(self, url: str, *, exchange: str = EXCHANGE, timeout: float = 5.0,
                 cooldown_seconds: float = 5.0) -> None:
        self.url = url
        self._exchange = Exchange(exchange, type="topic", durable=True)
        self._timeout = timeout
        self._cooldown = cooldown_seconds
        self._connection: Connection | None = None
        self._down_until = 0.0

    def publish(self, envelope: dict[str, Any]) -> None:
        """Publish one envelope and wait for the broker's confirm."""
        if time.monotonic() < self._down_until:
            # Fail fast while the broker is known to be down, so the relay keeps
            # delivering to the other subscribers instead of waiting on timeouts.
            raise BrokerUnavailable("the broker was unreachable moments ago")
        try:
            self._producer().publish(
                envelope, exchange=self._exchange, routing_key=envelope["type"],
                message_id=envelope["id"], delivery_mode=2, serializer="json",
                declare=[self._exchange], retry=False, timeout=self._timeout)
        except Exception as failure:
            self._disconnect()
            self._down_until = time.monotonic() + self._cooldown
            raise BrokerUnavailable(f"publish failed: {failure!r}") from failure

    def _producer(self) -> Producer:
        if self._connection is None:
            self._connection = Connection(
                self.url, connect_timeout=self._timeout,
                transport_options={"confirm_publish": True})
            self._connection.ensure_connection(max_retries=1)
        return Producer(self._connection.default_channel)

    def _disconnect(self) -> None:
        if self._connection is not None:
            try:
                self._connection.release()
            except Exception:
                log.debug("closing a broken broker connection failed", exc_info=True)
        self._connection = None


def build_publisher(url: str) -> Publisher:
    """The publisher for EVENT_BROKER_URL's scheme (add Kafka here, same interface)."""
    scheme = url.split("://", 1)[0].lower()
    if scheme in {"amqp", "amqps", "pyamqp"}:
        return AmqpPublisher(url)
    raise ValueError(f"EVENT_BROKER_URL scheme {scheme!r} is not supported (use amqp://)")
