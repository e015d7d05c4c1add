"""gunicorn settings: ``gunicorn -c deploy/gunicorn.conf.py wsgi:app``.

Every value can be overridden on the command line or with GUNICORN_CMD_ARGS.
"""

import os

from prometheus_flask_exporter.multiprocess import GunicornInternalPrometheusMetrics

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:5000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = 30
graceful_timeout = 20
# Trust X-Forwarded-For/-Proto only from the local nginx. (X-Request-ID is taken from any
# client; it only labels log lines, and the app accepts a restricted character set.)
forwarded_allow_ips = "127.0.0.1"
# The longest request line gunicorn reads (its maximum); the app refuses targets over
# 8000 characters itself, as problem+json (vitalbridge/http/request_limits.py).
limit_request_line = 8190
accesslog = None  # the app logs requests itself, as JSON with request ids
# gunicorn's control socket (for gunicornc) defaults to one path per user
# ($XDG_RUNTIME_DIR/gunicorn.ctl or ~/.gunicorn/gunicorn.ctl): a second server of the same
# user on the host would take it over, and gunicornc would then steer the wrong one. So
# it is off unless GUNICORN_CONTROL_SOCKET names a path that belongs to this server.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "")
control_socket_disable = not control_socket


def child_exit(server, worker):
    """Drop a dead worker's metric files (prometheus multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        GunicornInternalPrometheusMetrics.mark_process_dead_on_child_exit(worker.pid)


def post_worker_init(worker):
    """The app is loaded: keep its long-lived objects out of later collections."""
    from vitalbridge import heap  # here, not above: the master never loads the app

    heap.settle()
