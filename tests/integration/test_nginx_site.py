"""The shipped nginx site, run for real in front of the app (skipped where nginx is not
installed): it passes requests through, and past its per-address rate it answers 429 as
problem+json, like the app's own limits."""

import json
import re
import shutil
import socket
import ssl
import subprocess
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from deploy.topology.nginx_site import SiteParameters, main_config, render_site
from tests.conftest import bearer
from tests.factories import TenantFactory
from vitalbridge import create_app

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed "
                                "(apt-get install nginx-light)")


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _certificate(folder):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", folder / "key.pem",
                    "-out", folder / "cert.pem"], check=True, capture_output=True)


def _site_for_test(folder, https_port, http_port, upstream_port):
    """The shipped site with only its ports, upstream, certificate and log paths changed
    (the same rendering `make topology` runs)."""
    site = folder / "site.conf"
    site.write_text(render_site(SiteParameters(
        https_port=https_port, http_port=http_port, upstream_ports=(upstream_port,),
        certificate=folder / "cert.pem", private_key=folder / "key.pem", log_dir=folder)))
    (folder / "temp").mkdir()
    (folder / "nginx.conf").write_text(main_config(folder, site, worker_processes=1))


@pytest.fixture
def behind_nginx(owner_url, tmp_path):
    app = create_app(database_url=owner_url, env="testing", trusted_proxy_hops=1)
    upstream = make_server("127.0.0.1", _free_port(), app, threaded=True)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    https_port, http_port = _free_port(), _free_port()
    _certificate(tmp_path)
    _site_for_test(tmp_path, https_port, http_port, upstream.server_port)
    command = [NGINX, "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)]
    subprocess.run([*command, "-t"], check=True, capture_output=True)
    subprocess.run(command, check=True)
    try:
        yield app, f"https://localhost:{https_port}", ssl.create_default_context(
            cafile=tmp_path / "cert.pem")
    finally:
        subprocess.run([*command, "-s", "stop"], check=False)
        upstream.shutdown()
        app.extensions["vitalbridge"].db.dispose()


def _get(context, url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_nginx_passes_requests_with_its_headers(behind_nginx):
    app, base, tls = behind_nginx
    with app.app_context():
        tenant = TenantFactory()
    status, headers, body = _get(tls, f"{base}/api/v1/api-keys", bearer(tenant.admin_key))
    assert status == 200, body
    assert headers["Strict-Transport-Security"].startswith("max-age=")
    assert headers["Cache-Control"] == "no-store"
    assert re.fullmatch(r"[0-9a-f]{32}", headers["X-Request-ID"])


def test_past_its_rate_nginx_answers_429_problem_json(behind_nginx):
    app, base, tls = behind_nginx
    with app.app_context():
        tenant = TenantFactory()
    with ThreadPoolExecutor(max_workers=16) as pool:  # reads: the app itself limits none
        answers = list(pool.map(lambda _: _get(tls, f"{base}/api/v1/api-keys",
                                               bearer(tenant.admin_key)), range(120)))
    statuses = {status for status, _, _ in answers}
    assert statuses == {200, 429}, statuses
    headers, body = next((h, b) for status, h, b in answers if status == 429)
    assert headers["Content-Type"] == "application/problem+json"
    assert headers["Retry-After"] == "1"
    problem = json.loads(body)
    assert problem["type"] == "urn:vitalbridge:problem:rate-limited"
    assert problem["request_id"] == headers["X-Request-ID"]


def test_a_target_too_long_is_414_problem_json_from_nginx_or_the_app(behind_nginx):
    _, base, tls = behind_nginx
    for length in (8_050, 9_000):  # the app's limit; past nginx's buffers
        status, headers, body = _get(tls, f"{base}/api/v1/patients?q={'a' * length}")
        assert status == 414, (length, body[:200])
        assert headers["Content-Type"] == "application/problem+json", length
        assert json.loads(body)["status"] == 414
