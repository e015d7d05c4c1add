"""The application factory."""

from __future__ import annotations

import os
from typing import Any

import structlog
from flask import Flask
from flask_alembic import Alembic
from werkzeug.middleware.proxy_fix import ProxyFix

from config.settings import DEV_ONLY_PEPPER, Settings, load_settings
from vitalbridge.appointment.day_sheet_views import blueprint as day_sheet_api
from vitalbridge.appointment.patient_views import blueprint as patient_appointment_api
from vitalbridge.appointment.views import blueprint as appointment_api
from vitalbridge.bootstrap import bootstrap
from vitalbridge.db import Base, owner_engine
from vitalbridge.demo import demo
from vitalbridge.http import (
    conditional,
    content_type,
    cors,
    docs,
    error_docs,
    health,
    metrics,
    problems,
    rate_limits,
    request_id,
    request_limits,
    security_headers,
)
from vitalbridge.http.audit import blueprint as audit_api
from vitalbridge.http.events import blueprint as events_api
from vitalbridge.http.sync_status import blueprint as sync_status_api
from vitalbridge.logs import configure_logging
from vitalbridge.messaging.cli import outbox
from vitalbridge.patient.views import blueprint as patient_api
from vitalbridge.provider.views import blueprint as provider_api
from vitalbridge.read_model_cli import read_models_cli
from vitalbridge.reconciliation.cli import reconcile
from vitalbridge.reporting.metrics_cli import metrics_cli
from vitalbridge.reporting.metrics_views import blueprint as metrics_api
from vitalbridge.reporting.views import blueprint as reporting_api
from vitalbridge.schedule.views import blueprint as schedule_api
from vitalbridge.scheduler import scheduler_cli
from vitalbridge.services import EXTENSION_KEY
from vitalbridge.tenant.cli import keys, tenants
from vitalbridge.tenant.views import blueprint as tenant_api

MIGRATIONS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "migrations")
API_BLUEPRINTS = [events_api, audit_api, tenant_api, provider_api, patient_api, schedule_api,
                  appointment_api, patient_appointment_api, day_sheet_api, reporting_api,
                  metrics_api, sync_status_api]


def create_app(**overrides: Any) -> Flask:
    """Build the app from the environment; ``overrides`` replace individual settings."""
    settings = load_settings(**overrides)
    configure_logging(settings.log_level)
    _warn_of_published_pepper(settings)
    app = Flask(__name__)
    app.config.update(settings.to_flask(), **docs.openapi_settings())
    app.extensions[EXTENSION_KEY] = bootstrap(settings)
    _register_migrations(app)
    _register_http(app)
    for group in (tenants, keys, outbox, demo, scheduler_cli, read_models_cli, reconcile,
                  metrics_cli):
        app.cli.add_command(group)
    return app


def _warn_of_published_pepper(settings: Settings) -> None:
    # Production refuses to start without a pepper; development falls back to one that
    # is published here (make run makes a random one per data folder instead).
    if settings.env == "development" and settings.api_key_pepper == DEV_ONLY_PEPPER:
        structlog.get_logger("vitalbridge.security").warning(
            "API_KEY_PEPPER is not set: API keys are hashed with the published development "
            "pepper, so a copy of this database's keys table is enough to test guesses; "
            "set API_KEY_PEPPER to a long random string")


def _register_migrations(app: Flask) -> None:
    # Migrations run as the owner role (DATABASE_URL); the app itself never does.
    app.config["ALEMBIC"] = {"script_location": MIGRATIONS}
    alembic = Alembic(app, metadatas=Base.metadata,
                      engines=owner_engine(app.config["SETTINGS"]), run_mkdir=False)
    with app.app_context():
        app.extensions["migration_heads"] = [s.revision for s in alembic.heads()]


def _register_http(app: Flask) -> None:
    hops = app.config["SETTINGS"].trusted_proxy_hops
    if hops:  # the client's address and scheme, as the proxies in front saw them
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    request_id.init_request_ids(app)
    request_limits.init_request_limits(app)
    rate_limits.init_rate_limits(app)
    security_headers.init_security_headers(app)
    cors.init_cors(app)
    content_type.init_content_type_check(app)
    conditional.init_conditional_reads(app)
    api = error_docs.ProblemApi(app)  # errors documented as problem+json
    for blueprint in API_BLUEPRINTS:
        api.register_blueprint(blueprint)
    app.register_blueprint(health.blueprint)
    docs.init_docs(app)
    metrics.init_metrics(app)
    # After flask-smorest, so that its JSON error handler is replaced by problem+json.
    problems.register_error_handlers(app)
