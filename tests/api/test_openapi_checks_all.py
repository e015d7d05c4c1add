"""The served OpenAPI document tells the truth, by schemathesis with every check.

The schemathesis CLI runs against the app (served over HTTP, on the test database, with
a seeded clinic) as a tenant admin, as a staff key and as a platform admin, with
``--checks all`` (not_a_server_error, status code, content type, header and schema
conformance, negative_data_rejection, positive_data_acceptance, missing_required_header,
unsupported_method, allow_header_conformance, use_after_free,
ensure_resource_availability, ignored_auth, object_level_authorization), 25 examples
per operation, every phase (examples, coverage, fuzzing, stateful along the document's
links), derandomized. It must find nothing.

What is adjusted, and why (one line each; the hooks in tests/openapi_hooks.py say more):

- rate limits are raised: the fuzzer's own 401 probes would otherwise become 429s
  (tests/api/test_rate_limits.py tests the limits);
- cursors, Consistency-Tokens and If-Match versions are never made up, and each
  Idempotency-Key is fresh: the server issues those, and a made-up one is refused by
  design (each refusal has its own tests);
- a valid request is made to obey the rules the document states in words (one field
  against another, or against today) and to name the seeded rows;
- ``POST /providers/{id}/deactivate`` gets a provider of its own: deactivating the
  seeded one would turn every later request about it into a 409;
- link inference is off: the document's own links drive the stateful phase;
- 414 counts as a rejection of invalid data (see REJECTIONS);
- the filter_too_much and too_slow health checks are off: a date-time field has both a
  format and a pattern, which Hypothesis can only meet by filtering.
"""

import json
import os
import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.appointment_factories import AppointmentFactory, next_monday
from tests.factories import ApiKeyFactory, PlatformKeyFactory, TenantFactory
from tests.patient_factories import PatientFactory
from tests.provider_factories import ProviderFactory
from tests.schedule_factories import LeaveRequestFactory, WorkingHoursFactory
from vitalbridge import create_app
from vitalbridge.messaging.cli import build_relay
from vitalbridge.messaging.messages import Role

ROOT = Path(__file__).resolve().parents[2]
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
EXAMPLES = 25
UNLIMITED = "1000000/minute"
PLATFORM_PATHS = "^/api/v1/tenants"


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _seed(app):
    """A clinic with a row of each kind, its keys, and a platform key."""
    booked = datetime.combine(next_monday(weeks_ahead=2).date(), time(15), tzinfo=UTC)
    with app.app_context():
        tenant = TenantFactory()
        provider = ProviderFactory(tenant_id=tenant.id)
        WorkingHoursFactory(tenant_id=tenant.id, provider_id=provider.id)
        patient = PatientFactory(tenant_id=tenant.id)
        appointment = AppointmentFactory(tenant_id=tenant.id, provider_id=provider.id,
                                         patient_id=patient.id, start=booked)
        leave = LeaveRequestFactory(tenant_id=tenant.id, provider_id=provider.id,
                                    start=booked + timedelta(days=3),
                                    end=booked + timedelta(days=4))
        key = ApiKeyFactory(tenant_id=tenant.id)
        staff = ApiKeyFactory(tenant_id=tenant.id, role=Role.STAFF)
        to_deactivate = ProviderFactory(tenant_id=tenant.id)
        platform = PlatformKeyFactory()
        build_relay().drain()  # the read models hold the seeded rows
    ids = {"tenant_id": tenant.id, "provider_id": provider.id, "patient_id": patient.id,
           "appointment_id": appointment.id, "leave_id": leave.id, "key_id": key.id,
           "day": (booked + timedelta(days=1)).date().isoformat()}
    keys = {"admin": tenant.admin_key, "staff": staff.key, "platform": platform.key}
    return {name: str(value) for name, value in ids.items()}, keys, str(to_deactivate.id)


# schemathesis's own list of the statuses that reject invalid data, with 414: a value too
# long for a URL (a cursor of 1,501 characters, most of them percent-encoded) is refused
# by that, before the 422 its length would get.
REJECTIONS = ["400", "401", "403", "404", "405", "406", "409", "414", "415", "422", "428",
              "429", "5xx"]


def _config(key, ids, to_deactivate):
    lines = ["[auth.openapi.bearer]", f'bearer = "{key}"', "",
             "[phases.stateful.inference]", "algorithms = []", "",
             "[checks.negative_data_rejection]",
             f"expected-statuses = {json.dumps(REJECTIONS)}", "", "[parameters]"]
    lines += [f'"path.{name}" = "{value}"' for name, value in ids.items()]
    lines += ["", "[[operations]]",
              'include-name = "POST /api/v1/providers/{provider_id}/deactivate"',
              f'parameters = {{ "path.provider_id" = "{to_deactivate}" }}']
    return "\n".join(lines) + "\n"


@pytest.fixture
def served(owner_url):
    app = create_app(database_url=owner_url, env="testing", rate_limit_commands=UNLIMITED,
                     rate_limit_failed_auth=UNLIMITED)
    seeded = _seed(app)
    server = make_server("127.0.0.1", _free_port(), app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seeded
    finally:
        server.shutdown()
        app.extensions["vitalbridge"].db.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("role", ["admin", "staff", "platform"])
def test_schemathesis_with_every_check_finds_nothing(served, tmp_path, role):
    base, (ids, keys, to_deactivate) = served
    config = tmp_path / "schemathesis.toml"
    config.write_text(_config(keys[role], ids, to_deactivate))
    scope = "--include-path-regex" if role == "platform" else "--exclude-path-regex"
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.openapi_hooks",
           "VB_SEEDED_IDS": json.dumps(ids), "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [str(SCHEMATHESIS), "--config-file", str(config), "run", f"{base}/openapi.json",
         "--checks", "all", "--max-examples", str(EXAMPLES), "--seed", "1", "--workers", "1",
         "--suppress-health-check", "filter_too_much,too_slow", scope, PLATFORM_PATHS,
         "--no-color"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
        check=False)
    report = run.stdout + run.stderr
    assert run.returncode == 0, report[-12000:]
    assert " passed" in report
    assert "failures" not in report.splitlines()[-1], report[-3000:]
