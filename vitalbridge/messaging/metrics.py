"""Relay metrics. When the relay shares PROMETHEUS_MULTIPROC_DIR with gunicorn (make run,
the Procfile), the web app's /metrics shows them too."""

from __future__ import annotations

import os

from prometheus_client import Counter, Gauge, Histogram, multiprocess

# The subscriber label of events that no subscriber listens to: they are delivered too
# (marked delivered, given their feed position), to nobody, and counted under it so that
# the counter moves with every event the relay passes, not only the subscribed ones.
NO_SUBSCRIBER = "(none)"
DELIVERED = Counter("vitalbridge_outbox_delivered_total",
                    f"Events handled by a subscriber, or by none ({NO_SUBSCRIBER}).",
                    ["subscriber"])
FAILED = Counter("vitalbridge_outbox_failed_total",
                 "Failed deliveries to a subscriber (each attempt).", ["subscriber"])
LATENCY = Histogram("vitalbridge_outbox_delivery_latency_seconds",
                    "From the event's commit to its delivery to a subscriber.",
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
BACKLOG = Gauge("vitalbridge_outbox_backlog", "Undelivered events.",
                multiprocess_mode="livemax")
OLDEST = Gauge("vitalbridge_outbox_oldest_undelivered_seconds",
               "Age of the oldest undelivered event.", multiprocess_mode="livemax")
PARKED = Gauge("vitalbridge_outbox_parked", "Parked deliveries (retrying or dead).",
               ["state"], multiprocess_mode="livemax")

READ_MODEL_LAG = Gauge("vitalbridge_read_model_lag_seconds",
                       "Age of the oldest event a read model has not applied (any tenant).",
                       ["read_model"], multiprocess_mode="livemax")
READ_MODEL_BACKLOG = Gauge("vitalbridge_read_model_backlog",
                           "Events a read model has not applied: undelivered or parked.",
                           ["read_model"], multiprocess_mode="livemax")
READ_MODEL_APPLIED = Gauge("vitalbridge_read_model_last_applied_timestamp_seconds",
                           "When a read model last applied a batch (Unix time, any tenant).",
                           ["read_model"], multiprocess_mode="livemax")


def forget_process_metrics() -> None:
    """On exit, drop this process's live gauges from the shared folder (multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(os.getpid())
