"""Prometheus metrics at /metrics, aggregated across gunicorn workers when needed.

With PROMETHEUS_MULTIPROC_DIR set (gunicorn), every worker writes its samples there
and /metrics reads them all; without it, the process's own registry is served.
"""

from __future__ import annotations

import os

from flask import Flask
from prometheus_flask_exporter import PrometheusMetrics
from prometheus_flask_exporter.multiprocess import GunicornInternalPrometheusMetrics


def init_metrics(app: Flask) -> PrometheusMetrics:
    """Attach request metrics and the /metrics endpoint."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics: PrometheusMetrics = GunicornInternalPrometheusMetrics(app, group_by="url_rule")
    else:
        metrics = PrometheusMetrics(app, group_by="url_rule", registry=_fresh_registry())
    return metrics


def _fresh_registry():  # type: ignore[no-untyped-def]
    # Each app gets its own registry so that building several apps in one process
    # (the test suite) never registers the same metric twice.
    from prometheus_client import CollectorRegistry

    return CollectorRegistry(auto_describe=True)
