"""The OpenAPI settings and a Swagger UI page served from local files (works offline).

How the document describes errors is vitalbridge/http/error_docs.py.
"""

from __future__ import annotations

import os

import flask_swagger_ui
from flask import Blueprint, Flask, Response, render_template_string, send_from_directory
from flask.typing import ResponseReturnValue

SWAGGER_DIST = os.path.join(os.path.dirname(flask_swagger_ui.__file__), "dist")

blueprint = Blueprint("docs", __name__)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>VitalBridge API</title>
<link rel="stylesheet" href="{{ url_for('docs.asset', filename='swagger-ui.css') }}">
</head><body><div id="swagger-ui"></div>
<script src="{{ url_for('docs.asset', filename='swagger-ui-bundle.js') }}"></script>
<script src="{{ url_for('docs.asset', filename='swagger-ui-standalone-preset.js') }}"></script>
<script>
window.ui = SwaggerUIBundle({url: "{{ url_for('api-docs.openapi_json') }}",
  dom_id: "#swagger-ui", validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: "StandaloneLayout"});
</script></body></html>"""


@blueprint.get("/docs")
def page() -> ResponseReturnValue:
    """The browsable API reference."""
    return render_template_string(_PAGE)


@blueprint.get("/docs/assets/<path:filename>")
def asset(filename: str) -> Response:
    """Swagger UI's own files, shipped inside the flask-swagger-ui wheel."""
    return send_from_directory(SWAGGER_DIST, filename, max_age=86400)


def openapi_settings() -> dict[str, object]:
    """flask-smorest settings: OpenAPI 3.1 at /openapi.json, no CDN-backed UIs."""
    return {
        "API_TITLE": "VitalBridge API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.1.0",
        "OPENAPI_URL_PREFIX": "/",
        "OPENAPI_JSON_PATH": "openapi.json",
        "API_SPEC_OPTIONS": {
            "info": {"description": "Multi-tenant healthcare scheduling. Commands answer "
                                    "acknowledgements; queries never change anything."},
            "components": {"securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "API key"}}},
            "security": [{"bearer": []}],
        },
    }


def init_docs(app: Flask) -> None:
    """Serve /docs and its assets."""
    app.register_blueprint(blueprint)
