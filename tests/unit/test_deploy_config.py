"""The shipped nginx site keeps patient data out of its logs (hardening, item 2)."""

import inspect
import json
import re
import runpy
from pathlib import Path

NGINX = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf"
# Variables that hold the query string: $request (the request line), $request_uri,
# $args, $query_string and any $arg_<name>.
QUERY_VARIABLES = re.compile(r"\$(request\b(?!_)|request_uri|args|query_string|arg_\w+)")


def _directives(name: str) -> list[str]:
    text = re.sub(r"#[^\n]*", "", NGINX.read_text())  # comments out
    return [match.group(1) for match in re.finditer(
        rf"\b{name}\s+([^;]*);", text, re.DOTALL)]


def test_every_server_logs_with_a_format_without_the_query_string():
    formats = {body.split()[0]: body for body in _directives("log_format")}
    servers = len(re.findall(r"^\s*server\s*\{", NGINX.read_text(), re.MULTILINE))
    logs = [body.split() for body in _directives("access_log")]
    assert len(logs) == servers >= 2  # no server falls back to nginx's "combined"
    for path, format_name in logs:
        assert format_name in formats, f"{path} uses {format_name}, not defined here"
        assert not QUERY_VARIABLES.search(formats[format_name]), formats[format_name]


def test_the_error_log_leaves_out_request_lines():
    assert [body.split()[-1] for body in _directives("error_log")] == ["crit"]


def test_the_pattern_catches_the_variables_that_hold_a_query():
    assert QUERY_VARIABLES.search('"$request" $status')
    assert QUERY_VARIABLES.search("$request_uri")
    assert QUERY_VARIABLES.search("$arg_q")
    assert not QUERY_VARIABLES.search("$request_method $uri $request_time $request_id")


def test_the_tls_server_sends_hsts():
    assert re.search(r'^\s*add_header Strict-Transport-Security "max-age=\d{8,}[^"]*" always;',
                     NGINX.read_text(), re.MULTILINE)


def test_the_api_is_rate_limited_per_address_with_a_problem_answer():
    text = NGINX.read_text()
    assert re.search(r"^limit_req_zone \$binary_remote_addr zone=vitalbridge_api:\S+ rate=\d+r/s;",
                     text, re.MULTILINE)
    api = re.search(r"location /api/ \{(.*?)\}", text, re.DOTALL).group(1)
    assert re.search(r"limit_req zone=vitalbridge_api burst=\d+ nodelay;", api)
    assert "limit_req_status 429;" in api
    assert "error_page 429 = @rate_limited;" in api
    answer = re.search(r"location @rate_limited \{(.*?)\n    \}", text, re.DOTALL).group(1)
    assert "default_type application/problem+json;" in answer
    assert "add_header Retry-After" in answer
    body = re.search(r"return 429 '(.*)';", answer).group(1)
    assert json.loads(body.replace("$request_id", "x"))["status"] == 429


def test_a_request_line_too_long_is_answered_as_problem_json():
    text = NGINX.read_text()
    assert "large_client_header_buffers 4 8k;" in text
    assert "error_page 414 /uri-too-long.json;" in text
    answer = re.search(r"location = /uri-too-long.json \{(.*?)\n    \}", text, re.DOTALL).group(1)
    assert "internal;" in answer
    assert "default_type application/problem+json;" in answer
    gunicorn = (NGINX.parent / "gunicorn.conf.py").read_text()
    assert re.search(r"^limit_request_line = 8190$", gunicorn, re.MULTILINE)


def _gunicorn_settings(monkeypatch, **environ):
    """deploy/gunicorn.conf.py as gunicorn reads it, under ``environ``."""
    from gunicorn.config import Config

    monkeypatch.delenv("GUNICORN_CONTROL_SOCKET", raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    config = Config()
    namespace = runpy.run_path(str(NGINX.parent / "gunicorn.conf.py"))
    for name, value in namespace.items():
        if name.startswith("_") or inspect.ismodule(value) or inspect.isclass(value):
            continue
        assert name in config.settings, f"{name} is no gunicorn setting"
        config.set(name, value)
    return config


def test_no_control_socket_at_the_per_user_default(monkeypatch):
    # Two servers of one user on a host would share $HOME/.gunicorn/gunicorn.ctl.
    assert _gunicorn_settings(monkeypatch).control_socket_disable is True


def test_a_control_socket_only_where_the_server_is_told(monkeypatch):
    config = _gunicorn_settings(monkeypatch, GUNICORN_CONTROL_SOCKET="/run/web-a/gunicorn.ctl")
    assert config.control_socket_disable is False
    assert config.control_socket == "/run/web-a/gunicorn.ctl"


def test_the_web_unit_keeps_its_control_socket_in_its_own_runtime_directory():
    unit = (NGINX.parent / "vitalbridge-web.service").read_text()
    assert "RuntimeDirectory=vitalbridge-web\n" in unit
    assert "Environment=GUNICORN_CONTROL_SOCKET=/run/vitalbridge-web/gunicorn.ctl\n" in unit
