"""``make run``'s supervisor on a fresh data folder: ready in 60 s, relay running, clean stop.

This is acceptance 1 short of the venv step (which `make test` itself has just done).
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]
READY_WITHIN_SECONDS = 60


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url, key=None):
    request = urllib.request.Request(url)
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def wait_until_ready(base, process):
    deadline = time.monotonic() + READY_WITHIN_SECONDS
    while time.monotonic() < deadline:
        assert process.poll() is None, "make run's supervisor exited early"
        try:
            if get(f"{base}/health/ready")[0] == 200:
                return time.monotonic()
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"/health/ready did not answer 200 within {READY_WITHIN_SECONDS} s")


def postgres_running(pgdata):
    return any(p.info["name"] == "postgres" and str(pgdata) in " ".join(p.info["cmdline"] or [])
               for p in psutil.process_iter(attrs=["name", "cmdline"]))


def wait_for_empty_outbox(pgdata, seconds=15):
    deadline = time.monotonic() + seconds
    with psycopg.connect(host=str(pgdata), user="postgres", dbname="vitalbridge") as conn:
        while time.monotonic() < deadline:
            undelivered = conn.execute(
                "SELECT count(*) FROM outbox WHERE delivered_at IS NULL").fetchone()[0]
            total = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
            conn.rollback()
            if total > 0 and undelivered == 0:
                return True
            time.sleep(0.3)
    return False


def assert_metrics_add_up_across_workers(base, requests):
    for _ in range(requests):
        get(f"{base}/health/live")
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
        text = response.read().decode()
    counted = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                  if line.startswith("flask_http_request_duration_seconds_count{")
                  and 'url_rule="/health/live"' in line)
    # Two workers share the load; only multiprocess aggregation sees every request.
    assert counted >= requests, text


def readme_blocks():
    """The shell blocks of the README's "Try it" section."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Try it", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)


def run_readme_examples(port, tmp_path):
    """Run the README's examples as written, but for this run's port and folders."""
    ran = 0
    status_codes = "curl() { command curl -w '\\n<<%{http_code}>>\\n' \"$@\"; }\n"
    for block in readme_blocks():
        script = re.sub(r"curl[^\n]*\\\n[^\n]*<key-id>[^\n]*\n", "", block)  # placeholder
        script = (script.replace("127.0.0.1:5000", f"127.0.0.1:{port}")
                  .replace("var/demo-admin-key", str(tmp_path / "var" / "demo-admin-key"))
                  .replace("$PWD/.pgdata", str(tmp_path / "pgdata")))
        result = subprocess.run(["bash", "-e", "-c", status_codes + script], cwd=ROOT,
                                capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        codes = re.findall(r"<<(\d{3})>>", result.stdout)
        assert codes, result.stdout
        assert all(code in {"200", "201"} for code in codes), result.stdout
        ran += len(codes)
    assert ran >= 10, f"only {ran} README requests ran"


@pytest.mark.slow
def test_make_run_serves_seeds_relays_and_stops_everything(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "FLASK_APP"}}
    env.update(PORT=str(port), VITALBRIDGE_PGDATA=str(tmp_path / "pgdata"),
               VITALBRIDGE_VAR=str(tmp_path / "var"), WEB_CONCURRENCY="2")
    process = subprocess.Popen([sys.executable, "-m", "vitalbridge.dev.run"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base, process)
        key = (tmp_path / "var" / "demo-admin-key").read_text().strip()
        status, body = get(f"{base}/api/v1/api-keys", key)
        assert status == 200
        assert body["items"][0]["role"] == "admin"
        assert postgres_running(tmp_path / "pgdata")
        assert len((tmp_path / "pgdata.pepper").read_text().strip()) >= 40  # a random pepper
        assert wait_for_empty_outbox(tmp_path / "pgdata"), "the relay did not deliver the seed"
        assert_metrics_add_up_across_workers(base, requests=40)
        run_readme_examples(port, tmp_path)
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert "Demo clinic 'demo' is ready" in output
    assert "outbox relay" in output
    assert not postgres_running(tmp_path / "pgdata"), "embedded PostgreSQL left running"
