"""The WSGI entry point: ``gunicorn wsgi:app`` (``flask`` finds it too)."""

from vitalbridge import create_app

app = create_app()
