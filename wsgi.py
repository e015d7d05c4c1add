"""The WSGI entry point: ``gunicorn wsgi:app`` (``flask`` finds it too)."""

import gc

from vitalbridge import create_app

app = create_app()

# The app's import-time objects (SQLAlchemy metadata, schemas, routes) live as long as
# the process: keep them out of the cyclic collector's sweeps. Without this, full
# collections triggered by large answers (availability) put tens of ms on the slowest
# requests (bench/RESULTS.md).
gc.freeze()
